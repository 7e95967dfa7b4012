"""The one-command demo (``avlearn demo``): each task trained briefly on a generated world.

The demo is its own layer, above the training engine: one module per stage, each building its
recipe from the YAML recipes shipped in :mod:`avlearn.recipes` plus the demo's overrides
(smaller worlds, fewer steps; :func:`~avlearn.demo.runner.stage_config`), and
:mod:`~avlearn.demo.report` for the sections of ``report.html``.

* :mod:`~avlearn.demo.classification`: a 3D CNN on trimmed action segments
  (``classify_world.yaml``);
* :mod:`~avlearn.demo.sync`: the multisensory sync network, accuracy and offsets
  (``sync_multisensory.yaml``);
* :mod:`~avlearn.demo.localization`: audio-visual attention and the sync network's CAMs
  (``localize_attention.yaml``, ``localize_cam.yaml``);
* :mod:`~avlearn.demo.separation`: voice separation against the audio-only baseline
  (``separate_voices.yaml``, ``separate_voices_pit.yaml``);
* :mod:`~avlearn.demo.preview`: Listen to Look on untrimmed videos (``preview_*.yaml``).

    >>> from avlearn.demo import run_demo
    >>> summary = run_demo("runs/demo", quick=True)
"""

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import (
    WORLDS,
    DemoContext,
    DemoStage,
    common_overrides,
    list_demo_stages,
    register_demo_stage,
    run_demo,
    stage_config,
)

# Each stage module registers its stage on import.
from avlearn.demo import classification, localization, preview, separation, sync  # noqa: E402,F401  isort: skip
from avlearn.demo import activation_max, detection, fusion  # noqa: E402,F401  isort: skip

__all__ = [
    "DemoContext",
    "DemoSection",
    "DemoStage",
    "WORLDS",
    "common_overrides",
    "list_demo_stages",
    "register_demo_stage",
    "run_demo",
    "stage_config",
    "training_curves",
]
