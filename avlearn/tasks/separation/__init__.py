"""Visually guided source separation: one audio track per visible source, voices included.

Methods (each a registered task, trained with ``avlearn train`` on a synthetic world):

* ``sop`` -- Sound of Pixels (Zhao et al. ECCV 2018): mix-and-separate, a U-Net on the
  (log-frequency) spectrogram and K frame features combined by a linear synthesizer
  (:mod:`.sop`);
* ``coseparation`` -- Co-Separation (Gao & Grauman ICCV 2019): each object region is a
  source; video-level co-separation loss plus the object-consistency classifier
  (:mod:`.coseparation`);
* ``visualvoice`` -- VisualVoice / Looking to Listen: lip motion and face identity at the
  U-Net bottleneck, complex mask (:mod:`.voice`);
* ``audio_only_pit`` -- the audio-only permutation-invariant baseline (:mod:`.audio_only`).

Building blocks: :mod:`.stft` (STFT, log-frequency warp and its inverse, mixture-phase
reconstruction), :mod:`.masks` (ratio / binary / complex masks and weighted losses),
:mod:`.mix` (mixing), :mod:`.data` (worlds' clips and frozen lists), :mod:`.evaluate`
(BSS Eval with the mixture, oracle-mask and audio-only baselines), :mod:`.inference` (files
to per-source WAVs and videos; ``avlearn separate``).

    >>> from avlearn.tasks.separation import separation_task, evaluate_separation, separate_file
    >>> run = avlearn.load_run("runs/separate_instruments")
    >>> task, cfg = separation_task(run), run.config
    >>> separate_file(task, cfg, "clip.mp4", "out/")      # {"sources": [{"wav", "video"}, ...]}
"""

from avlearn.tasks.separation import audio_only, coseparation, sop, voice  # noqa: F401  (register the tasks)
from avlearn.tasks.separation.data import SeparationData
from avlearn.tasks.separation.evaluate import evaluate_separation, format_results, oracle_estimates
from avlearn.tasks.separation.inference import detect_sources, separate_file, separation_task
from avlearn.tasks.separation.stft import Spectrogram
from avlearn.tasks.separation.task import SeparationConfig, SeparationTask, SeparatorModel

__all__ = [
    "SeparationTask",
    "SeparationConfig",
    "SeparatorModel",
    "SeparationData",
    "Spectrogram",
    "separation_task",
    "evaluate_separation",
    "format_results",
    "oracle_estimates",
    "separate_file",
    "detect_sources",
]
