"""The generic classification task: loss, top-k and confusion sums, summaries."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avlearn.tasks.classification import ClassificationTask


class _Fixed(nn.Module):
    """Returns preset logits whatever the input (so the metrics can be checked by hand)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits
        self.w = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.logits + self.w


def test_topk_confusion_and_balanced_accuracy():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [3.0, 1.0, 2.0]])
    labels = torch.tensor([0, 2, 1, 0])  # top-1 hits: yes, no, no, yes; top-2 hits: yes, yes, yes, yes
    task = ClassificationTask(model=_Fixed(logits), num_classes=3, topk=[1, 2, 5])
    assert task.topk == [1, 2, 3]  # k capped at the class count
    batch = {"video": torch.zeros(4, 3, 2, 4, 4), "label": labels}
    out = task(batch)
    assert torch.isclose(out["loss"], nn.functional.cross_entropy(logits, labels))
    sums = task.metric_sums(out, batch)
    assert (float(sums["correct_top1"]), float(sums["correct_top2"]), float(sums["count"])) == (2.0, 4.0, 4.0)
    expected = torch.zeros(3, 3, dtype=torch.float64)
    for t, p in [(0, 0), (2, 1), (1, 2), (0, 0)]:
        expected[t, p] += 1
    assert torch.equal(sums["confusion"], expected)
    summary = task.summarize(sums)
    assert summary["top1"] == 0.5 and summary["top2"] == 1.0
    assert summary["balanced_acc"] == pytest.approx((1.0 + 0.0 + 0.0) / 3)  # recall of classes 0, 1, 2
    assert task.train_monitor(out, batch) == {"top_pred_share": 0.5}
    assert torch.allclose(task.predict(batch["video"]).sum(1), torch.ones(4))


def test_many_to_many_outputs_are_averaged_over_time():
    per_step = torch.tensor([[[4.0, 0.0], [0.0, 2.0]]])  # (B=1, T=2, K=2): mean favours class 0
    task = ClassificationTask(model=_Fixed(per_step), num_classes=2, topk=[1], input="audio")
    out = task({"audio": torch.zeros(1, 1, 100), "label": torch.tensor([0])})
    assert out["logits"].shape == (1, 2) and out["logits"].argmax(1).item() == 0
