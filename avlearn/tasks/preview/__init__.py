"""Audio-preview action recognition and temporal action localization on untrimmed videos.

Gao, Oh, Grauman & Torresani, "Listen to Look: Action Recognition by Previewing Audio", CVPR 2020:

* :mod:`~avlearn.tasks.preview.data`: untrimmed videos decoded once, cut into windows and time steps;
* :mod:`~avlearn.tasks.preview.task`: the clip-level 3D teacher (task ``preview_teacher``)
  and the image+audio student distilled from it (task ``imgaud2vid``);
* :mod:`~avlearn.tasks.preview.skimming`: IMGAUD-SKIMMING on precomputed feature banks (task
  ``imgaud_skimming``);
* :mod:`~avlearn.tasks.preview.temporal_localization`: window scores, grouped proposals, 1D NMS, mAP;
* :mod:`~avlearn.tasks.preview.budget`: measured GFLOPs per video of each strategy;
* :mod:`~avlearn.tasks.preview.evaluate`: accuracy against GFLOPs, localization mAP;
* :mod:`~avlearn.tasks.preview.bundle`: the trained models in one file (``avlearn classify``);
* :mod:`~avlearn.tasks.preview.inference`: whole-file recognition and segments (``avlearn classify``).

Every stage trained in order: :mod:`avlearn.train.preview` (``avlearn preview run``).
"""

from avlearn.tasks.preview.bundle import PreviewModels, preview_models, save_bundle
from avlearn.tasks.preview.task import ImgAud2VidTask, distillation_loss
from avlearn.tasks.preview.temporal_localization import localize
from avlearn.tasks.preview.skimming import SkimmingTask
from avlearn.tasks.preview.data import PreviewData, VideoWindows

__all__ = [
    "ImgAud2VidTask",
    "PreviewData",
    "PreviewModels",
    "SkimmingTask",
    "VideoWindows",
    "distillation_loss",
    "preview_models",
    "localize",
    "save_bundle",
]
