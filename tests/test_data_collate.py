"""collate: stacks tensors, lists strings and ragged items, drops None samples and counts them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avlearn.data import collate


def _sample(i, n=100):
    return {
        "video": torch.full((3, 2, 4, 4), float(i)),
        "audio": torch.zeros(1, n),
        "label": i,
        "start": 0.5 * i,
        "flag": i % 2 == 0,
        "path": f"{i}.mp4",
        "feat": np.arange(3, dtype=np.float32) + i,
        "meta": {"speaker": f"s{i}", "snr": float(i)},
    }


def test_stacks_and_lists():
    batch = collate([_sample(0), None, _sample(1), None, _sample(2)])
    assert batch["skipped"] == 2
    assert batch["video"].shape == (3, 3, 2, 4, 4) and batch["video"][2].max() == 2
    assert batch["audio"].shape == (3, 1, 100)
    assert batch["label"].dtype == torch.int64 and batch["label"].tolist() == [0, 1, 2]
    assert batch["start"].dtype == torch.float64 and batch["start"].tolist() == [0.0, 0.5, 1.0]
    assert batch["flag"].dtype == torch.bool and batch["flag"].tolist() == [True, False, True]
    assert batch["path"] == ["0.mp4", "1.mp4", "2.mp4"]
    assert batch["feat"].shape == (3, 3) and batch["feat"][1, 0] == 1
    assert batch["meta"]["speaker"] == ["s0", "s1", "s2"] and batch["meta"]["snr"].tolist() == [0.0, 1.0, 2.0]


def test_ragged_and_missing_keys():
    a, b = _sample(0, n=100), _sample(1, n=90)
    del b["meta"]
    b["extra"] = None
    batch = collate([a, b])
    assert isinstance(batch["audio"], list) and [x.shape[-1] for x in batch["audio"]] == [100, 90]
    assert batch["meta"][1] is None and batch["extra"] == [None, None]
    assert batch["skipped"] == 0


def test_all_skipped_and_reserved_key():
    assert collate([None, None]) == {"skipped": 2}
    with pytest.raises(KeyError, match="skipped"):
        collate([{"skipped": 1}])
