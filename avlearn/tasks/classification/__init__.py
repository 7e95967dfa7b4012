"""Clip classification: a registered video or audio model, cross-entropy, top-k accuracy.

* :mod:`~avlearn.tasks.classification.task`: the ``task`` section, the head/loss/metrics, the builder;
* :mod:`~avlearn.tasks.classification.data`: the ``data`` section and the clip datasets;
"""

from avlearn.tasks.classification.data import ClassificationData, build_classification_datasets, class_names
from avlearn.tasks.classification.task import ClassificationConfig, ClassificationTask, build_classification

__all__ = [
    "ClassificationConfig",
    "ClassificationData",
    "ClassificationTask",
    "build_classification",
    "build_classification_datasets",
    "class_names",
]
