"""Engine tests on a toy task: random vectors whose class is a fixed linear function of them.

This file also serves the subprocess tests (resume after SIGKILL, torchrun DDP): run as a
script, it trains the toy task (``python tests/test_train_engine.py OUT_DIR [--resume]
[--set k=v ...]``) and, under torchrun, each process can dump its gradients after one step.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.train import checkpoint as ckpt
from avlearn.train.config import ScheduleConfig, config_from_dict
from avlearn.train.loader import ResumableBatchSampler, SeededDataset, build_loader
from avlearn.train.log import read_metrics
from avlearn.train.optim import lr_factor
from avlearn.train.runfolder import RunFolderError
from avlearn.train.trainer import Trainer, fit, resolve_precision

TOY = "toy_engine_test"


@dataclass
class ToyConfig:
    name: str = TOY
    hidden: int = 16
    dropout: float = 0.2
    sleep: float = 0.0  # seconds per forward (makes the kill test's timing easy)
    bn: bool = False  # a BatchNorm layer (running statistics that differ between DDP ranks)
    hang: float = 0.0  # rank 1 sleeps this long in its third forward (a stuck DDP rank)


@dataclass
class ToyData:
    n_train: int = 48
    n_val: int = 20
    dim: int = 6
    classes: int = 3
    noise: float = 0.3  # random augmentation drawn from the global RNG inside __getitem__
    bad: list[int] = field(default_factory=list)  # indices that return None (unreadable files)


class ToyDataset(torch.utils.data.Dataset):
    def __init__(self, n: int, cfg: ToyData, seed: int):
        g = torch.Generator().manual_seed(seed)
        w = torch.randn(cfg.dim, cfg.classes, generator=torch.Generator().manual_seed(1234))
        self.x = torch.randn(n, cfg.dim, generator=g)
        self.y = (self.x @ w).argmax(1)
        self.noise, self.bad = cfg.noise, set(cfg.bad)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        if i in self.bad:
            return None
        x = self.x[i] + self.noise * torch.randn(self.x.shape[1])  # uses the seeded global RNG
        return {"x": x, "label": int(self.y[i]), "index": i}


class ToyTask(Task):
    def __init__(self, *, dim: int, classes: int, hidden: int, dropout: float, sleep: float, bn: bool = False,
                 hang: float = 0.0):
        super().__init__()
        norm = [nn.BatchNorm1d(hidden)] if bn else []
        self.net = nn.Sequential(nn.Linear(dim, hidden), *norm, nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes))
        self.sleep, self.hang, self.calls = sleep, hang, 0

    def forward(self, batch):
        self.calls += 1
        if self.hang and self.calls == 3 and os.environ.get("RANK") == "1":
            time.sleep(self.hang)
        if self.sleep:
            time.sleep(self.sleep)
        logits = self.net(batch["x"])  # (B, K)
        return {"loss": F.cross_entropy(logits, batch["label"]), "logits": logits}

    def metric_sums(self, outputs, batch):
        correct = (outputs["logits"].argmax(1) == batch["label"]).sum()
        return {"correct": correct.float(), "count": torch.tensor(float(len(batch["label"])))}

    def summarize(self, sums):
        return {"acc": float(sums["correct"] / sums["count"])}

    def train_monitor(self, outputs, batch):
        return {"pred_class0": float((outputs["logits"].argmax(1) == 0).float().mean())}


def _toy_datasets(cfg):
    d = cfg.data
    return {"train": ToyDataset(d.n_train, d, 1), "val": ToyDataset(d.n_val, d, 2), "test": ToyDataset(d.n_val, d, 3)}


@register_task(TOY, config=ToyConfig, data=ToyData, model=ModelConfig, datasets=_toy_datasets)
def _build_toy(cfg) -> ToyTask:
    t, d = cfg.task, cfg.data
    return ToyTask(dim=d.dim, classes=d.classes, hidden=t.hidden, dropout=t.dropout, sleep=t.sleep, bn=t.bn, hang=t.hang)


def toy_config(out_dir, **train):
    """A validated toy ExperimentConfig; ``train`` overrides the train section."""
    raw = {
        "task": {"name": TOY},
        "optim": {"name": "adamw", "lr": 0.03, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 2},
        "train": {
            "steps": 12,
            "batch_size": 8,
            "log_every": 1,
            "ckpt_every": 4,
            "seed": 7,
            "device": "cpu",
            "out_dir": str(out_dir),
            "tensorboard": False,
            "progress": False,
            **train,
        },
    }
    return config_from_dict(raw, source="toy")


def weights_of(out_dir) -> dict[str, torch.Tensor]:
    return torch.load(os.path.join(out_dir, "weights.pt"), weights_only=True)


def assert_same_weights(a: dict, b: dict, atol: float = 0.0) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=atol, rtol=0), f"{k}: max diff {(a[k] - b[k]).abs().max()}"


# ----------------------------------------------------------------------------- unit tests


def test_lr_schedule_shapes():
    cfg = ScheduleConfig(kind="cosine", warmup_steps=4, min_lr_ratio=0.1)
    f = [lr_factor(s, 20, cfg) for s in range(20)]
    assert f[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(f[4:], f[5:]))
    assert math.isclose(lr_factor(20, 20, cfg), 0.1)
    step = ScheduleConfig(kind="step", warmup_steps=0, step_size=5, gamma=0.5)
    assert [lr_factor(s, 20, step) for s in (0, 4, 5, 10)] == [1.0, 1.0, 0.5, 0.25]
    assert lr_factor(7, 20, ScheduleConfig(kind="constant", warmup_steps=2)) == 1.0


def test_batch_sampler_partitions_and_resumes():
    full = list(ResumableBatchSampler(50, 8, seed=3, epoch=1))
    assert len(full) == 6 and all(len(b) == 8 for b in full)
    assert len({i for b in full for i in b}) == 48  # no repeats within an epoch
    assert list(ResumableBatchSampler(50, 8, seed=3, epoch=1, start=4)) == full[4:]
    assert full != list(ResumableBatchSampler(50, 8, seed=3, epoch=2))
    ranks = [list(ResumableBatchSampler(50, 8, seed=3, epoch=1, rank=r, world_size=2)) for r in range(2)]
    for k, b in enumerate(full):  # each global batch = rank 0's slice + rank 1's slice
        assert ranks[0][k] + ranks[1][k] == b
    with pytest.raises(ValueError, match="not divisible"):
        ResumableBatchSampler(50, 9, seed=0, epoch=0, world_size=2)
    with pytest.raises(ValueError, match="fewer than train.batch_size"):
        ResumableBatchSampler(5, 8, seed=0, epoch=0)


def test_seeded_dataset_is_repeatable_and_leaves_rng_alone():
    ds = ToyDataset(10, ToyData(), 0)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a = SeededDataset(ds, seed=1, epoch=0)[3]["x"]
    assert torch.equal(torch.get_rng_state(), before)
    assert torch.equal(a, SeededDataset(ds, seed=1, epoch=0)[3]["x"])
    assert not torch.equal(a, SeededDataset(ds, seed=1, epoch=1)[3]["x"])


def test_seeded_touches_no_gpu_generator(monkeypatch):
    """A sample's seed must not reseed the GPUs' generators (nothing restores them afterwards):
    same draws as torch.manual_seed on the CPU, and no call into torch.cuda."""
    from avlearn.data.dataset import seeded

    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    with seeded(7):
        a = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(a, torch.rand(3))
    calls.clear()  # torch.manual_seed above made one
    with seeded(8):
        torch.rand(1)
    assert calls == []


def test_eval_loader_covers_each_sample_once_over_ranks():
    ds = ToyDataset(11, ToyData(), 0)
    seen = []
    for r in range(3):
        for batch in build_loader(ds, batch_size=2, seed=0, rank=r, world_size=3, collate_fn=lambda s: s):
            seen += [s["index"] for s in batch]
    assert sorted(seen) == list(range(11))


def test_fit_learns_logs_and_skips_bad_samples(tmp_path):
    cfg = toy_config(tmp_path / "run", steps=30, ckpt_every=10, keep_ckpts=2, eval_every=15)
    cfg.data.bad = [0, 5]
    res = fit(cfg)
    assert res["test"]["acc"] > 0.6 and res["val"]["samples"] == 18 and res["val"]["skipped"] == 2
    train = read_metrics(tmp_path / "run" / "metrics.jsonl", "train")
    assert [r["step"] for r in train] == list(range(1, 31))
    assert train[-1]["loss"] < train[0]["loss"] and "pred_class0" in train[0] and train[0]["clips_per_s"] > 0
    assert sum(r["skipped"] for r in train) > 0  # both bad indices come up over 30 batches of 8 out of 48
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl", "val")] == [15, 30]
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "run" / "checkpoints")] == [20, 30]
    final = json.loads((tmp_path / "run" / "final_metrics.json").read_text())
    assert final["step"] == 30 and final["precision"] == "fp32" and set(final) == {"step", "precision", "val", "test"}
    assert (tmp_path / "run" / "config.yaml").is_file()


def test_grad_accum_equals_large_batch(tmp_path):
    # micro-batches k and k+1 of 4 are exactly global batch k/2 of 8 (same permutation), so
    # with dropout off two accumulated micro-batches give the large batch's mean gradient
    kw = dict(steps=5, ckpt_every=0, final_eval=[])
    big = toy_config(tmp_path / "a", batch_size=8, **kw)
    acc = toy_config(tmp_path / "b", batch_size=4, grad_accum=2, **kw)
    for cfg in (big, acc):
        cfg.task.dropout = 0.0
        fit(cfg)
    assert_same_weights(weights_of(tmp_path / "a"), weights_of(tmp_path / "b"), atol=1e-6)


def test_resume_in_process_matches_uninterrupted(tmp_path):
    fit(toy_config(tmp_path / "full", steps=12))
    fit(toy_config(tmp_path / "cut", steps=12))
    for step in (8, 12):  # a run that died after its step-4 checkpoint: later files never existed
        os.unlink(ckpt.checkpoint_path(tmp_path / "cut" / "checkpoints", step))
    os.unlink(tmp_path / "cut" / "weights.pt")
    fit(toy_config(tmp_path / "cut", steps=12), resume=True)
    assert_same_weights(weights_of(tmp_path / "full"), weights_of(tmp_path / "cut"))
    steps = [r["step"] for r in read_metrics(tmp_path / "cut" / "metrics.jsonl", "train")]
    assert steps == list(range(1, 13))  # the log lines of steps 5-12 were dropped and redone


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_runs(tmp_path, precision):
    res = fit(toy_config(tmp_path / precision, steps=4, precision=precision, clip_grad=1.0, final_eval=["val"]))
    assert math.isfinite(res["val"]["loss"])
    rec = read_metrics(tmp_path / precision / "metrics.jsonl", "train")[-1]
    assert math.isfinite(rec["grad_norm"])


def test_auto_precision_resolves_per_device(tmp_path, monkeypatch):
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert [resolve_precision(p, cpu) for p in ("fp32", "bf16", "fp16")] == ["fp32", "bf16", "fp16"]
    for native, want in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
        assert resolve_precision("auto", cpu) == want
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: native)
        assert resolve_precision("auto", cuda) == want
        trainer = Trainer(toy_config(tmp_path / "probe", precision="auto"))
        with trainer._autocast():
            assert torch.is_autocast_enabled("cpu") == native
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == (torch.bfloat16 if native else torch.float32)
        trainer.close()
        res = fit(toy_config(tmp_path / want, steps=2, precision="auto", final_eval=["val"]))
        assert json.loads((tmp_path / want / "final_metrics.json").read_text())["precision"] == want
        assert math.isfinite(res["val"]["loss"])


def test_incompatible_checkpoint_names_keys(tmp_path):
    fit(toy_config(tmp_path / "a", steps=1, final_eval=[]))
    other = toy_config(tmp_path / "a", steps=2)
    other.task.hidden = 32
    trainer = Trainer(other)
    with pytest.raises(RunFolderError, match=r"step_0000001\.pt: .*different recipe: task\.hidden: 16 -> 32"):
        trainer.resume()  # the recipe check comes first
    path = ckpt.checkpoint_path(tmp_path / "a" / "checkpoints", 1)
    state = torch.load(path, weights_only=True)
    del state["config"], state["fingerprint"]  # a checkpoint without its recipe: the weights still do not fit
    torch.save(state, path)
    with pytest.raises(ckpt.CheckpointError, match=r"step_0000001\.pt.*shape mismatches \['net\.0\.weight"):
        trainer.resume()
    with pytest.raises(ValueError, match="missing keys"):
        ckpt.load_task_weights(trainer.task, _write_state(tmp_path / "w.pt", {"bogus": torch.zeros(1)}))


def test_task_without_forward_cannot_be_built():
    class NoForward(Task):
        def summarize(self, sums):
            return {}

    with pytest.raises(TypeError, match="forward"):
        NoForward()
    assert isinstance(ToyTask(dim=2, classes=2, hidden=4, dropout=0.0, sleep=0.0), Task)


def test_separation_task_without_predict_cannot_be_built():
    from avlearn.tasks.separation.task import SeparationConfig, SeparationTask

    class NoPredict(SeparationTask):
        pass

    with pytest.raises(TypeError, match="predict"):
        NoPredict(SeparationConfig())


def _write_state(path, state):
    torch.save(state, path)
    return path


# ----------------------------------------------------------------------------- script mode


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--grads", help="first write each process's gradients after one step to GRADS.<rank>.pt")
    p.add_argument("--set", dest="overrides", nargs="*", default=[])
    args = p.parse_args(argv)
    from avlearn.train.config import apply_overrides, parse_overrides, to_dict

    raw = apply_overrides(to_dict(toy_config(args.out_dir)), parse_overrides(args.overrides))
    cfg = config_from_dict(raw, source="toy")
    if args.grads:  # first the gradients of one step, then a normal run from scratch
        probe = Trainer(cfg)
        _dump_first_grads(probe, args.grads)
    trainer = Trainer(cfg)
    try:
        trainer.fit(resume=args.resume)
    finally:
        trainer.close()
    return 0


def _dump_first_grads(trainer: Trainer, prefix: str) -> None:
    """One micro-step on the first global batch; save this process's (all-reduced) gradients."""
    loader = trainer._loader("train", batch_size=trainer.cfg.train.batch_size, epoch=0)
    trainer._micro_step(next(iter(loader)), sync=True)
    grads = {n: p.grad.detach().clone() for n, p in trainer.task.named_parameters()}
    torch.save(grads, f"{prefix}.{trainer.dist.rank}.pt")


if __name__ == "__main__":
    sys.exit(main())


def test_every_task_family_is_registered():
    from avlearn.tasks import list_tasks

    expected = {"classification", "sync", "localization", "sop", "coseparation", "visualvoice", "audio_only_pit",
                "preview_teacher", "imgaud2vid", "imgaud_skimming"}
    assert expected <= set(list_tasks())
