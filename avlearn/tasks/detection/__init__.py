"""Spatio-temporal action detection (AVA): actor boxes at keyframes, classified multi-label.

* :mod:`~avlearn.tasks.detection.task`: the ``task`` section, masked BCE, count metrics, the builder;
* :mod:`~avlearn.tasks.detection.data`: the ``data`` section and the keyframe datasets;
* :mod:`~avlearn.tasks.detection.boxes`: the moving-region actor box source of inference;
* :mod:`~avlearn.tasks.detection.evaluate`: frame-mAP@0.5 beside the prior-only and centre-box baselines;
* :mod:`~avlearn.tasks.detection.inference`: labelled boxes at the keyframes of a whole file, and a video of them.
"""

from avlearn.tasks.detection import boxes as _boxes
from avlearn.tasks.detection import data as _data
from avlearn.tasks.detection import evaluate as _evaluate
from avlearn.tasks.detection import inference as _inference
from avlearn.tasks.detection import task as _task
from avlearn.tasks.detection.boxes import motion_boxes
from avlearn.tasks.detection.data import DetectionData, KeyframeDataset, build_detection_datasets
from avlearn.tasks.detection.evaluate import baseline_maps, evaluate_detection
from avlearn.tasks.detection.inference import detect_file, write_detection_video
from avlearn.tasks.detection.task import DetectionConfig, DetectionTask, build_detection

__all__ = [*_task.__all__, *_data.__all__, *_boxes.__all__, *_evaluate.__all__, *_inference.__all__]
