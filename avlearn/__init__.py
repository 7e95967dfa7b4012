"""avlearn: learning from paired video and audio with PyTorch.

Data flows one way (see DESIGN.md): ``avlearn.io`` decodes files into :class:`AVClip`,
``avlearn.data`` turns clips into samples and batches, ``avlearn.models`` holds the towers
behind one registry, ``avlearn.tasks`` puts heads, losses and metrics on top, and
``avlearn.train`` / ``avlearn.cli`` run them.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "FeatureExtractor"]


def __getattr__(name: str):
    # Lazy so that ``import avlearn`` (and ``avlearn --version``) stays cheap.
    if name == "FeatureExtractor":
        from avlearn.models.extract import FeatureExtractor

        return FeatureExtractor
    raise AttributeError(f"module 'avlearn' has no attribute {name!r}")
