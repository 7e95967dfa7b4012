"""Clip classification: a registered video or audio model, cross-entropy, top-k accuracy.

* :mod:`~avlearn.tasks.classification.task`: the ``task`` section, the head/loss/metrics, the builder;
* :mod:`~avlearn.tasks.classification.data`: the ``data`` section and the clip datasets;
* :mod:`~avlearn.tasks.classification.evaluate`: accuracy of a trained run, per class too;
* :mod:`~avlearn.tasks.classification.inference`: labels of a whole file.
"""

from avlearn.tasks.classification.data import ClassificationData, build_classification_datasets, class_names
from avlearn.tasks.classification.evaluate import evaluate_classification
from avlearn.tasks.classification.inference import predict_file
from avlearn.tasks.classification.task import ClassificationConfig, ClassificationTask, build_classification

__all__ = [
    "ClassificationConfig",
    "ClassificationData",
    "ClassificationTask",
    "build_classification",
    "build_classification_datasets",
    "class_names",
    "evaluate_classification",
    "predict_file",
]
