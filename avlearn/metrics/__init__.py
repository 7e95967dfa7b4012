"""Evaluation metrics of the four audio-visual tasks.

* separation: :func:`bss_eval_sources` (BSS Eval v3 SDR / SIR / SAR, matching mir_eval),
  :func:`bss_eval_framewise` and :func:`aggregate_framewise` (BSS Eval v4 per window, matching
  museval),
  :func:`sdr_improvement`, :func:`mixture_sdr`, :func:`si_sdr`, :func:`si_sdr_improvement`;
* localization: :func:`ciou` and its summaries (cIoU@0.5, AUC), the pointing game and the
  whole-image / centre / random baselines (:func:`evaluate_localization`,
  :func:`evaluate_baselines`);
* classification: :func:`topk_accuracy`, :func:`confusion_matrix`,
  :func:`mean_average_precision`;
* temporal detection: :func:`temporal_iou`, :func:`nms_1d`, :func:`detection_map`;
* spatio-temporal detection: :func:`box_iou`, :func:`frame_map` (AVA frame-mAP@0.5).

    >>> from avlearn.metrics import bss_eval_sources, si_sdr, ciou
    >>> sdr, sir, sar, perm = bss_eval_sources(reference, estimate)
"""

from avlearn.metrics.bss_eval import SeparationScores, bss_eval_sources, mixture_sdr, sdr_improvement
from avlearn.metrics.bss_eval_v4 import FramewiseScores, aggregate_framewise, bss_eval_framewise, frame_bounds
from avlearn.metrics.classification import (
    average_precision,
    confusion_matrix,
    mean_average_precision,
    precision_recall_curve,
    topk_accuracy,
)
from avlearn.metrics.detection import (
    TIOU_THRESHOLDS,
    DetectionScores,
    Segment,
    detection_map,
    interpolated_average_precision,
    nms_1d,
    temporal_iou,
)
from avlearn.metrics.frame_map import BoxDetection, FrameMapScores, box_iou, frame_map
from avlearn.metrics.localization import (
    BASELINES,
    CIOU_THRESHOLDS,
    RULES,
    LocalizationScores,
    binarize_area,
    binarize_heatmap,
    boxes_to_mask,
    center_prior_heatmap,
    ciou,
    ciou_auc,
    evaluate_baselines,
    evaluate_localization,
    normalize_heatmap,
    oracle_heatmap,
    pointing_game,
    random_heatmap,
    whole_image_heatmap,
)
from avlearn.metrics.sisdr import si_sdr, si_sdr_improvement

__all__ = [
    "bss_eval_sources",
    "mixture_sdr",
    "sdr_improvement",
    "SeparationScores",
    "bss_eval_framewise",
    "aggregate_framewise",
    "frame_bounds",
    "FramewiseScores",
    "si_sdr",
    "si_sdr_improvement",
    "ciou",
    "ciou_auc",
    "binarize_heatmap",
    "binarize_area",
    "oracle_heatmap",
    "RULES",
    "normalize_heatmap",
    "pointing_game",
    "boxes_to_mask",
    "whole_image_heatmap",
    "center_prior_heatmap",
    "random_heatmap",
    "BASELINES",
    "CIOU_THRESHOLDS",
    "LocalizationScores",
    "evaluate_localization",
    "evaluate_baselines",
    "topk_accuracy",
    "confusion_matrix",
    "precision_recall_curve",
    "average_precision",
    "mean_average_precision",
    "temporal_iou",
    "nms_1d",
    "interpolated_average_precision",
    "detection_map",
    "Segment",
    "DetectionScores",
    "TIOU_THRESHOLDS",
    "BoxDetection",
    "FrameMapScores",
    "box_iou",
    "frame_map",
]
