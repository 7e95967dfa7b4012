"""Temporal action localization by proposals (TAL-Net) trained on fixed clip features.

Chao et al., "Rethinking the Faster R-CNN Architecture for Temporal Action Localization"
(CVPR 2018) on untrimmed videos with labelled segments (an actions world, or manifests of
``avlearn prepare activitynet|thumos|ave``):

* :mod:`~avlearn.tasks.temporal.data`: videos as sequences of window features (a trained clip
  classifier's, or ``avlearn extract-features`` files), with their segments;
* :mod:`~avlearn.tasks.temporal.task`: the ``temporal_proposals`` task (two-stage loss,
  whole-video detections, exact mAP at tIoU 0.3-0.7 in the engine's evaluation);
* :mod:`~avlearn.tasks.temporal.evaluate`: TAL-Net beside window grouping and trivial baselines.

Inference on a media file with a preview bundle: ``avlearn classify --segments --method
proposals --proposals RUN`` (:mod:`avlearn.tasks.preview.inference`).
"""

from avlearn.tasks.temporal.data import TemporalData, split_sequences
from avlearn.tasks.temporal.evaluate import evaluate_temporal
from avlearn.tasks.temporal.inference import proposal_segments
from avlearn.tasks.temporal.task import TemporalProposalTask, build_temporal_proposals

__all__ = ["TemporalData", "TemporalProposalTask", "build_temporal_proposals", "evaluate_temporal", "proposal_segments",
           "split_sequences"]
