"""Spatio-temporal action detection (AVA): actor boxes at keyframes, classified multi-label,
and the person (actor) box detector that supplies the boxes.

* :mod:`~avlearn.tasks.detection.task`: the ``detection`` task section, masked BCE, count metrics, the builder;
* :mod:`~avlearn.tasks.detection.data`: the ``data`` section and the keyframe datasets;
* :mod:`~avlearn.tasks.detection.persons`: the ``person_detection`` task (a CenterNet, its loss and metrics);
* :mod:`~avlearn.tasks.detection.person_data`: its frames with boxes and heatmap targets;
* :mod:`~avlearn.tasks.detection.boxes`: the box sources of inference (trained detector, moving regions, truth);
* :mod:`~avlearn.tasks.detection.evaluate`: frame-mAP@0.5 beside the prior-only and centre-box baselines;
* :mod:`~avlearn.tasks.detection.person_eval`: the person detector's box AP@0.5 beside its baselines;
* :mod:`~avlearn.tasks.detection.inference`: labelled boxes at the keyframes of a whole file, and a video of them.
"""

from avlearn.tasks.detection import boxes as _boxes
from avlearn.tasks.detection import data as _data
from avlearn.tasks.detection import evaluate as _evaluate
from avlearn.tasks.detection import inference as _inference
from avlearn.tasks.detection import person_data as _person_data
from avlearn.tasks.detection import person_eval as _person_eval
from avlearn.tasks.detection import persons as _persons
from avlearn.tasks.detection import task as _task
from avlearn.tasks.detection.boxes import BOX_SOURCES, detector_boxes, motion_boxes, truth_boxes
from avlearn.tasks.detection.data import DetectionData, KeyframeDataset, build_detection_datasets
from avlearn.tasks.detection.evaluate import baseline_maps, evaluate_detection
from avlearn.tasks.detection.inference import detect_file, source_boxes, write_detection_video
from avlearn.tasks.detection.person_data import PersonData, PersonFrames
from avlearn.tasks.detection.person_eval import evaluate_person_detector
from avlearn.tasks.detection.persons import PersonDetectionTask, build_person_detection
from avlearn.tasks.detection.task import DetectionConfig, DetectionTask, build_detection

__all__ = [*_task.__all__, *_data.__all__, *_persons.__all__, *_person_data.__all__, *_boxes.__all__,
           *_evaluate.__all__, *_person_eval.__all__, *_inference.__all__]
