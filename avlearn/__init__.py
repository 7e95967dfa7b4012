"""avlearn: learning from paired video and audio with PyTorch.

Data flows one way: ``avlearn.io`` decodes files into :class:`AVClip`,
``avlearn.data`` turns clips into samples and batches, ``avlearn.models`` holds the towers
behind one registry, ``avlearn.tasks`` puts heads, losses and metrics on top, and
``avlearn.train`` trains them, ``avlearn.demo`` and ``avlearn.cli`` sit on top. A trained run
loads with :func:`avlearn.load_run`.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "FeatureExtractor", "Run", "load_run"]


def __getattr__(name: str):
    # Lazy so that ``import avlearn`` (and ``avlearn --version``) stays cheap.
    if name == "FeatureExtractor":
        from avlearn.tasks.features import FeatureExtractor

        return FeatureExtractor
    if name in ("load_run", "Run"):
        from avlearn.tasks import runs

        return getattr(runs, name)
    raise AttributeError(f"module 'avlearn' has no attribute {name!r}")
