"""The training loop: any :class:`~avlearn.tasks.Task` on CPU or CUDA, one process or many.

    >>> from avlearn.train import fit, load_config
    >>> results = fit(load_config("avlearn/recipes/classify_world.yaml", ["train.steps=200"]))
    >>> results["test"]["top1"]

What one optimizer step does (``grad_accum`` micro-batches; DDP synchronises gradients on the
last one only, as in nanoGPT's ``no_sync`` pattern)::

    for each micro-batch:  loss = task(batch)["loss"] under autocast(bf16 | fp16)
                           scaler.scale(loss / grad_accum).backward()
    scaler.unscale_; clip_grad_norm_(clip_grad); scaler.step(optimizer); scheduler.step()

Mixed precision follows Micikevicius et al. ICLR'18 ("Mixed Precision Training": fp16 with
dynamic loss scaling, Sec. 3.2) through ``torch.amp``; bf16 needs no scaling. ``precision: auto``
(the recipes' setting) is bf16 autocast where the device computes bf16 natively and fp32
elsewhere (:func:`resolve_precision`); the precision used is logged and written to
``final_metrics.json``.

A run folder (``train.out_dir``) holds ``config.yaml``, ``metrics.jsonl`` (+ TensorBoard events
under ``tb/``), ``checkpoints/step_*.pt`` (full state, see :mod:`avlearn.train.checkpoint`),
``weights.pt`` (the task's reusable module, loadable with ``create_model(..., weights=)``) and
``final_metrics.json``. A run killed at any point and restarted with ``resume=True`` ends with
the same weights as an uninterrupted run: data order and augmentation are functions of
``(seed, epoch, index)`` (:mod:`avlearn.train.loader`), and the checkpoint restores the RNG
states of every process and the position inside the epoch.

A run folder holds one run: ``run.json`` records the recipe fingerprint, a fresh run never
mixes its files with another run's (``avlearn train`` refuses such a folder; :func:`fit`
removes the old run's files first unless told to refuse), and resuming refuses a checkpoint of
a different recipe (:mod:`avlearn.train.runfolder`). A run fails loudly (:class:`~avlearn.errors.TrainingError`,
nothing exported) when a whole epoch gives no optimizer step (every batch empty: no readable
sample) or the loss stays non-finite for ``train.max_nonfinite_steps`` steps (such steps are
skipped, not applied). In a distributed run the final metrics describe the exported weights:
rank 0's BatchNorm buffers are broadcast first, and every rank then evaluates the whole split
(not a shard of it), so ``final_metrics.json`` equals a one-process evaluation of ``weights.pt``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
import time
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from avlearn.errors import TrainingError
from avlearn.tasks.base import Task, build_datasets, build_task
from avlearn.train import checkpoint as ckpt
from avlearn.train import runfolder
from avlearn.train.config import ConfigError, ExperimentConfig, save_config, to_dict
from avlearn.train.distributed import (
    DistInfo,
    all_reduce_sums,
    barrier,
    broadcast_buffers,
    gather_objects,
    init_distributed,
    is_timeout,
    shutdown_distributed,
)
from avlearn.train.loader import build_loader, sample_seed
from avlearn.train.log import MetricLogger, make_progress
from avlearn.train.optim import WarmupSchedule, build_optimizer

__all__ = ["Trainer", "TrainingError", "fit", "evaluate", "resolve_precision", "seed_everything", "to_device"]

log = logging.getLogger(__name__)
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX: oneDNN runs bf16 convolutions and matmuls natively (else emulated, slow)."""
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision a run uses: ``train.precision``, with ``auto`` made concrete for ``device``.

    ``auto`` is ``bf16`` (autocast) on CUDA devices that support it and on CPUs with AVX512-BF16
    or AMX, and ``fp32`` elsewhere: without native bf16 the CPU emulates it and autocast is
    slower than fp32. Measured here (AVX512-BF16, benchmarks/RESULTS.md "Models"): the
    R(2+1)D-18 train step 2.72x torchvision's fp32 eager step, the sync recipe's step 1.4x.
    """
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if device.type == "cpu" and _cpu_has_native_bf16() else "fp32"


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) batch to ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _accumulate(store: dict[str, Tensor], name: str, value: float | Tensor) -> None:
    """``store[name] += value`` as float64 CPU tensors (a sum over batches)."""
    value = torch.as_tensor(value, dtype=torch.float64).detach().cpu()
    store[name] = store[name] + value if name in store else value


def _split_batch(task: Task, batch: Any) -> tuple[Any, int, int]:
    """``(batch without "skipped", samples, skipped)``; collates may return None when all dropped."""
    if batch is None:
        return None, 0, 0
    skipped = int(batch.pop("skipped", 0)) if isinstance(batch, dict) else 0
    return batch, task.batch_size(batch), skipped


class Trainer:
    """Train and evaluate one experiment.

    Args:
        cfg: the validated experiment config.
        task: a prebuilt task (default: ``build_task(cfg)`` after seeding, so every process
            starts from the same weights).
        datasets: prebuilt ``{"train", "val", "test"}`` datasets (default: ``build_datasets(cfg)``).
    """

    def __init__(self, cfg: ExperimentConfig, *, task: Task | None = None, datasets: dict | None = None):
        self.cfg = cfg
        tc = cfg.train
        for name in ("steps", "batch_size", "grad_accum", "log_every"):
            if getattr(tc, name) < 1:
                raise ValueError(f"train.{name} must be >= 1, got {getattr(tc, name)}")
        self.dist: DistInfo = init_distributed(tc.device, timeout=tc.dist_timeout)
        self.device = self.dist.device
        seed_everything(tc.seed)
        self.task = (task if task is not None else build_task(cfg)).to(self.device)
        if tc.sync_batchnorm and self.dist.distributed:
            if self.device.type == "cpu":
                raise ConfigError("recipe", "train.sync_batchnorm", "torch.nn.SyncBatchNorm runs on CUDA devices only "
                                  "(on CPU, rank 0's BatchNorm buffers are broadcast before evaluation and export)")
            self.task = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.task)
        self.datasets = datasets if datasets is not None else build_datasets(cfg)
        self.out_dir = tc.out_dir
        self.ckpt_dir = os.path.join(tc.out_dir, "checkpoints")
        self.optimizer = build_optimizer(cfg.optim, self.task)
        self.scheduler = WarmupSchedule(self.optimizer, cfg.schedule, total_steps=tc.steps)
        self.precision = resolve_precision(tc.precision, self.device)
        log.info("precision: %s (train.precision: %s)", self.precision, tc.precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.precision == "fp16")
        self.step, self.epoch, self.batch_in_epoch = 0, 0, 0
        self.updates = 0  # optimizer steps actually applied by this process's fit()
        self.raw = to_dict(cfg)
        self.fingerprint = runfolder.recipe_fingerprint(self.raw)
        self.model: torch.nn.Module = self.task
        if self.dist.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(
                self.task, device_ids=ids, find_unused_parameters=tc.find_unused_parameters
            )
        seed_everything(tc.seed + 1 + self.dist.rank)  # per-process stream for dropout & co.
        self.logger: MetricLogger | None = None

    # ------------------------------------------------------------------ helpers

    def _autocast(self):
        dtype = _DTYPES.get(self.precision)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def _loader(self, split: str, *, batch_size: int, epoch: int | None = None, start: int = 0):
        """Training loader of ``epoch`` from micro-batch ``start``, or the evaluation loader."""
        return build_loader(
            self.datasets[split],
            batch_size=batch_size,
            seed=self.cfg.train.seed,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
            collate_fn=self.task.collate,
            epoch=epoch,
            start=start,
            num_workers=self.cfg.train.num_workers,
            pin_memory=self.device.type == "cuda",
        )

    def _any_empty(self, n: int) -> bool:
        """True if this micro-batch is empty on any process (all then skip it together)."""
        flag = {"empty": torch.tensor(float(n == 0))}
        return bool(all_reduce_sums(flag, self.dist)["empty"].item() > 0)

    def _rng_context(self):
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        return torch.random.fork_rng(devices=devices)

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self) -> str | None:
        """Write the full state (every process must call this; rank 0 writes). Returns the path."""
        rngs = gather_objects(ckpt.rng_state(), self.dist)
        if not self.dist.is_main:
            return None
        state = {
            "format": ckpt.FORMAT,
            "version": 1,
            "model": self.task.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "rng": rngs,
            "world_size": self.dist.world_size,
            "config": self.raw,
            "fingerprint": self.fingerprint,
        }
        path = ckpt.atomic_save(state, ckpt.checkpoint_path(self.ckpt_dir, self.step))
        ckpt.prune_checkpoints(self.ckpt_dir, self.cfg.train.keep_ckpts, newest=path)
        return path

    def resume(self) -> str | None:
        """Restore the newest complete checkpoint of ``out_dir``; returns its path (None: none).

        Raises:
            RunFolderError: the checkpoint (or, without one, the folder's ``run.json``) belongs
                to a different recipe, or the checkpoint is past ``train.steps``.
            CheckpointError: its weights do not fit the task.
        """
        found = ckpt.latest_checkpoint(self.ckpt_dir)
        if found is None:
            fp, old = runfolder.read_run_fingerprint(self.out_dir)
            if fp is not None and fp != self.fingerprint:
                raise runfolder.RunFolderError(
                    f"{self.out_dir}: holds a run of a different recipe ({'; '.join(runfolder.recipe_diff(old, self.raw, 3))})"
                    " and no checkpoint of it; pass --overwrite to replace it, or choose another --out")
            log.warning("%s: no checkpoint to resume from; starting from step 0", self.ckpt_dir)
            return None
        path, st = found
        runfolder.check_resume(path, st, self.raw, self.cfg.train.steps)
        from avlearn.models import load_weights

        try:
            load_weights(self.task, st["model"])
        except ValueError as exc:
            raise ckpt.CheckpointError(f"{path}: {exc}") from None
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.step, self.epoch, self.batch_in_epoch = st["step"], st["epoch"], st["batch_in_epoch"]
        if len(st["rng"]) == self.dist.world_size:
            ckpt.set_rng_state(st["rng"][self.dist.rank])
        else:
            log.warning(
                "%s: saved by %d processes, resumed by %d; RNG streams reseeded",
                path,
                len(st["rng"]),
                self.dist.world_size,
            )
            seed_everything(sample_seed(self.cfg.train.seed, self.step, self.dist.rank))
        return path

    # ------------------------------------------------------------------ evaluation

    @torch.no_grad()
    def evaluate(self, split: str = "val", *, whole: bool = False) -> dict[str, float]:
        """Loss and the task's metrics on ``split``. RNG states untouched.

        Rank 0's buffers are broadcast to every process first. By default each process scores
        its shard and the sums are reduced; with ``whole`` each process scores the whole split
        alone (no collective), exactly as a one-process evaluation of the same weights would.
        """
        if split not in self.datasets:
            raise KeyError(f"no {split!r} dataset (have: {sorted(self.datasets)})")
        tc = self.cfg.train
        broadcast_buffers(self.task, self.dist)
        info = DistInfo(device=self.device) if whole else self.dist
        was_training = self.task.training
        self.task.eval()
        totals: dict[str, Tensor] = {}
        add = functools.partial(_accumulate, totals)
        with self._rng_context():
            loader = build_loader(
                self.datasets[split], batch_size=tc.eval_batch_size or tc.batch_size, seed=tc.seed, rank=info.rank,
                world_size=info.world_size, collate_fn=self.task.collate, num_workers=tc.num_workers,
                pin_memory=self.device.type == "cuda",
            )
            for batch in loader:
                batch, n, skipped = _split_batch(self.task, batch)
                add("_skipped", torch.tensor(float(skipped)))
                if n == 0:
                    continue
                batch = to_device(batch, self.device)
                with self._autocast():
                    out = self.task(batch)
                add("_loss", out["loss"].float() * n)
                add("_n", torch.tensor(float(n)))
                for k, v in self.task.metric_sums(out, batch).items():
                    add(k, torch.as_tensor(v))
        # every process reduces the same keys and shapes, even one that saw no batch
        shapes: dict[str, tuple] = {}
        for d in gather_objects({k: tuple(v.shape) for k, v in totals.items()}, info):
            shapes.update(d)
        full = {k: totals.get(k, torch.zeros(s, dtype=torch.float64)) for k, s in shapes.items()}
        sums = all_reduce_sums(full, info)
        n = float(sums.pop("_n", torch.tensor(0.0)))
        loss = float(sums.pop("_loss", torch.tensor(0.0)))
        skipped = int(sums.pop("_skipped", torch.tensor(0.0)))
        metrics = {"loss": loss / n if n else float("nan"), "samples": int(n), "skipped": skipped}
        if n:
            metrics.update(self.task.summarize(sums))
        self.task.train(was_training)
        return metrics

    # ------------------------------------------------------------------ training

    def _micro_step(self, batch: Any, *, sync: bool) -> tuple[Tensor | None, dict | None, Any, int, int]:
        batch, n, skipped = _split_batch(self.task, batch)
        if self._any_empty(n) if self.dist.distributed else n == 0:
            return None, None, batch, n, skipped
        batch = to_device(batch, self.device)
        no_sync = self.dist.distributed and not sync
        with self.model.no_sync() if no_sync else contextlib.nullcontext():
            with self._autocast():
                out = self.model(batch)
            loss = out["loss"]
            self.scaler.scale(loss / self.cfg.train.grad_accum).backward()
        return loss.detach().float(), out, batch, n, skipped

    def _optimizer_step(self, skip: bool = False) -> float | None:
        """Clip, step, schedule; ``skip`` (a non-finite loss) drops the gradients unapplied."""
        params = [] if skip else [p for p in self.task.parameters() if p.grad is not None]
        grad_norm = None
        if params:
            self.updates += 1
            if self.cfg.train.clip_grad > 0:
                self.scaler.unscale_(self.optimizer)
                grad_norm = float(torch.nn.utils.clip_grad_norm_(params, self.cfg.train.clip_grad))
            self.scaler.step(self.optimizer)
            self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self.step += 1
        return grad_norm

    def _log_train(self, window: dict[str, Tensor], elapsed: float, grad_norm: float | None, bar) -> None:
        sums = all_reduce_sums(window, self.dist)
        n = float(sums.pop("_n"))
        rec: dict[str, Any] = {
            "loss": float(sums.pop("_loss")) / n if n else float("nan"),
            "lr": self.optimizer.param_groups[0]["lr"],
            "clips_per_s": n / max(elapsed, 1e-9),
            "skipped": int(sums.pop("_skipped")),
            "epoch": self.epoch,
        }
        micro = float(sums.pop("_micro"))
        rec.update({k: float(v) / max(micro, 1.0) for k, v in sums.items()})
        if grad_norm is not None:
            rec["grad_norm"] = grad_norm
        self.logger.log("train", self.step, rec)
        bar.set_postfix(loss=f"{rec['loss']:.4f}", clips_s=f"{rec['clips_per_s']:.1f}", refresh=False)

    def _prepare_folder(self, resume: bool, existing: str) -> None:
        """Rank 0 checks and clears the run folder; every rank raises the same error."""
        error = None
        if self.dist.is_main:
            try:
                runfolder.prepare_run_folder(self.out_dir, self.raw, resume=resume, existing=existing)
            except runfolder.RunFolderError as exc:
                error = str(exc)
        errors = [e for e in gather_objects(error, self.dist) if e]
        if errors:
            raise runfolder.RunFolderError(errors[0])

    def _check_step(self, nonfinite: bool, bad_run: int) -> int:
        """Count consecutive non-finite steps (agreed over all processes); raise past the limit."""
        if self.dist.distributed:
            flag = all_reduce_sums({"nonfinite": torch.tensor(float(nonfinite))}, self.dist)["nonfinite"]
            nonfinite = bool(flag.item() > 0)
        if not nonfinite:
            return 0
        bad_run += 1
        limit = self.cfg.train.max_nonfinite_steps
        log.warning("step %d: non-finite loss, update skipped (%d in a row, limit %d)", self.step, bad_run, limit)
        if bad_run >= limit:
            raise TrainingError(
                f"{self.out_dir}: the loss was NaN or infinite on {bad_run} consecutive steps (up to step {self.step}; "
                f"train.max_nonfinite_steps={limit}); stopped, nothing exported. Lower optim.lr, set "
                "train.clip_grad, or check the data")
        return bad_run

    def fit(self, *, resume: bool = False, existing: str = "overwrite") -> dict[str, dict[str, float]]:
        """Train to ``train.steps`` (resuming from the newest checkpoint if ``resume``).

        Args:
            resume: continue from the newest readable checkpoint of the run folder (refused
                when it belongs to a different recipe).
            existing: what a fresh run does in a folder holding a run's files (see
                :func:`avlearn.train.runfolder.prepare_run_folder`): ``refuse`` (the ``avlearn
                train`` command's default), ``same-recipe`` (replace a run of the same recipe,
                refuse another) or ``overwrite`` (this function's default: a library caller
                asked for this folder; the old run's files are removed first, never mixed).

        Returns:
            ``{split: metrics}`` of the final evaluation (``train.final_eval`` splits that exist),
            also written to ``<out_dir>/final_metrics.json``.

        Raises:
            RunFolderError: the folder holds another run, or the checkpoint is of another recipe.
            TrainingError: no optimizer step in a whole epoch, non-finite losses for
                ``train.max_nonfinite_steps`` steps, or a process that stopped answering
                (``train.dist_timeout``). Nothing is exported then.
        """
        tc, main = self.cfg.train, self.dist.is_main
        self._prepare_folder(resume, existing)
        resumed = self.resume() if resume else None
        if main:
            os.makedirs(self.out_dir, exist_ok=True)
            ckpt.remove_stale_tmp(self.ckpt_dir)
            runfolder.write_run_record(self.out_dir, self.raw)
            save_config(self.cfg, os.path.join(self.out_dir, "config.yaml"))
        self.logger = MetricLogger(
            self.out_dir, enabled=main, tensorboard=tc.tensorboard, resume_step=self.step if resumed else None
        )
        bar = make_progress(tc.steps, self.step, enabled=main and tc.progress, desc=f"train {self.cfg.task.name}")
        self.task.train()
        window: dict[str, Tensor] = {}
        add = functools.partial(_accumulate, window)
        t0, micro, grad_norm, start = time.perf_counter(), 0, None, self.step
        nonfinite, bad_run, idle, skipped_total = False, 0, 0, 0
        per_epoch = max(1, len(self.datasets["train"]) // tc.batch_size // tc.grad_accum)

        try:
            while self.step < tc.steps:
                loader = self._loader("train", batch_size=tc.batch_size, epoch=self.epoch, start=self.batch_in_epoch)
                for batch in loader:
                    self.batch_in_epoch += 1
                    micro += 1
                    loss, out, batch, n, skipped = self._micro_step(batch, sync=micro == tc.grad_accum)
                    skipped_total += skipped
                    nonfinite = nonfinite or (loss is not None and not bool(torch.isfinite(loss)))
                    add("_skipped", skipped)
                    add("_micro", 1.0)
                    add("_n", n)
                    add("_loss", loss * n if loss is not None else 0.0)
                    if out is not None:
                        for k, v in self.task.train_monitor(out, batch).items():
                            add(k, float(v))
                    if micro < tc.grad_accum:
                        continue
                    micro = 0
                    bad_run = self._check_step(nonfinite, bad_run)
                    before = self.updates
                    grad_norm = self._optimizer_step(skip=bad_run > 0)
                    idle = 0 if self.updates > before or bad_run else idle + 1
                    nonfinite = False
                    if idle >= per_epoch:
                        self._no_update_error(skipped_total, f"{idle} consecutive steps (an epoch)")
                    bar.update(1)
                    done = self.step >= tc.steps
                    if self.step % tc.log_every == 0 or done:
                        self._log_train(window, time.perf_counter() - t0, grad_norm, bar)
                        window.clear()
                        t0 = time.perf_counter()
                    paused = time.perf_counter()  # evaluation and checkpoints do not count in clips/s
                    if tc.eval_every and self.step % tc.eval_every == 0 and not done and "val" in self.datasets:
                        self.logger.log("val", self.step, self.evaluate("val"))
                    if (tc.ckpt_every and self.step % tc.ckpt_every == 0) or done:
                        if not self.updates:  # never save or export weights that look trained but are not
                            self._no_update_error(skipped_total, f"the {self.step - start} steps of this run")
                        self.save_checkpoint()
                    t0 += time.perf_counter() - paused
                    if done:
                        break
                else:
                    self.epoch, self.batch_in_epoch = self.epoch + 1, 0
            return self._finish()
        except RuntimeError as exc:
            if self.dist.distributed and is_timeout(exc):
                raise TrainingError(
                    f"rank {self.dist.rank}: another process of the distributed run did not answer within "
                    f"train.dist_timeout={tc.dist_timeout:g} s (stopped, hung or killed); the job stops. "
                    f"({str(exc).strip().splitlines()[0][:160]})") from None
            raise
        finally:
            bar.close()
            self.logger.close()

    def _no_update_error(self, skipped: int, span: str) -> None:
        """Raise the error of a run whose batches were all empty (no readable sample)."""
        raise TrainingError(
            f"{self.out_dir}: no optimizer step in {span} (up to step {self.step}): every batch was empty, "
            f"{skipped} samples skipped as unreadable; stopped, nothing exported. Check the training data")

    def _finish(self) -> dict[str, dict[str, float]]:
        """Evaluate the weights about to be exported (rank 0's, every rank the whole split) and
        export them with ``final_metrics.json``."""
        results = {}
        broadcast_buffers(self.task, self.dist)
        for split in self.cfg.train.final_eval:
            if split in self.datasets:
                results[split] = self.evaluate(split, whole=self.dist.distributed)
                self.logger.log(split, self.step, results[split])
        if self.dist.is_main:
            ckpt.atomic_save(self.task.export_module().state_dict(), os.path.join(self.out_dir, "weights.pt"))
            with open(os.path.join(self.out_dir, "final_metrics.json"), "w", encoding="utf-8") as f:
                json.dump({"step": self.step, "precision": self.precision, **results}, f, indent=2)
        # Leave together: a rank that tears its gloo connections down while another is still
        # writing can abort the peer ("terminate called without an active exception").
        barrier(self.dist)
        return results

    def close(self) -> None:
        """Leave the process group if this trainer joined it."""
        shutdown_distributed(self.dist)


def fit(
    cfg: ExperimentConfig,
    *,
    resume: bool = False,
    existing: str = "overwrite",
    task: Task | None = None,
    datasets: dict | None = None,
) -> dict[str, dict[str, float]]:
    """Train ``cfg`` and return the final ``{split: metrics}`` (see :meth:`Trainer.fit`)."""
    trainer = Trainer(cfg, task=task, datasets=datasets)
    try:
        return trainer.fit(resume=resume, existing=existing)
    finally:
        trainer.close()


def evaluate(
    cfg: ExperimentConfig,
    weights: str | os.PathLike | None = None,
    *,
    split: str = "test",
    task: Task | None = None,
    datasets: dict | None = None,
) -> dict[str, float]:
    """Evaluate ``weights`` (a training checkpoint or an exported ``weights.pt``) on ``split``.

    Raises:
        ValueError: the weights do not fit the task (missing and unexpected keys are named).
        KeyError: the task has no ``split`` dataset.
    """
    trainer = Trainer(cfg, task=task, datasets=datasets)
    try:
        if weights is not None:
            ckpt.load_task_weights(trainer.task, weights)
        return trainer.evaluate(split)
    finally:
        trainer.close()
