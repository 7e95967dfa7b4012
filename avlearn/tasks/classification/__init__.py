"""Clip classification: a registered video or audio model, cross-entropy, top-k accuracy.

* :mod:`~avlearn.tasks.classification.task`: the ``task`` section, the head/loss/metrics, the builder;
* :mod:`~avlearn.tasks.classification.data`: the ``data`` section and the clip datasets;
* :mod:`~avlearn.tasks.classification.evaluate`: accuracy of a trained run, per class too;
* :mod:`~avlearn.tasks.classification.inference`: labels of a whole file;
* :mod:`~avlearn.tasks.classification.carriers`: accuracy per carrier on a frozen classify list (fusion).
"""

from avlearn.tasks.classification import task as _task
from avlearn.tasks.classification import data as _data
from avlearn.tasks.classification import evaluate as _evaluate
from avlearn.tasks.classification import inference as _inference
from avlearn.tasks.classification import carriers as _carriers
from avlearn.tasks.classification.carriers import carrier_accuracy, evaluate_carriers
from avlearn.tasks.classification.data import ClassificationData, build_classification_datasets, class_names, eval_transform
from avlearn.tasks.classification.evaluate import evaluate_classification
from avlearn.tasks.classification.inference import clip_starts, predict_file
from avlearn.tasks.classification.task import ClassificationConfig, ClassificationTask, build_classification

__all__ = [
    *_task.__all__,
    *_data.__all__,
    *_evaluate.__all__,
    *_inference.__all__,
    *_carriers.__all__,
]
