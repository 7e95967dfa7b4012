"""The shared separation task: spectrograms in, masks out, loss, waveforms and BSS Eval metrics.

Every separator of this package (Sound of Pixels, Co-Separation, VisualVoice-style voices and
the audio-only permutation-invariant baseline) follows the mix-and-separate recipe of Zhao et
al. (ECCV 2018, Sec. 3): the network sees the mixture's spectrogram (log magnitude, optionally
log-frequency warped; or the complex spectrogram for VisualVoice) and, per source, a visual
input; it predicts one mask per source; the loss compares the masks with the ideal ones
(:mod:`avlearn.tasks.separation.masks`); waveforms come from the masked mixture with the
mixture's phase and the inverse STFT. A subclass implements :meth:`SeparationTask.predict`
(and may override the loss).

Metrics (eval mode): BSS Eval v3 SDR / SIR / SAR of each valid source
(:func:`avlearn.metrics.sdr_improvement`, matching ``mir_eval.separation.bss_eval_sources``),
the mixture's SDR so SDRi is reported, and SI-SDR / SI-SDRi; the visual models score estimate
``n`` against source ``n`` (as SoP's evaluation), the audio-only model with the best
permutation. Means over all sources and per mixture size (2 and 3 clips).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import torch
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, Task
from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.stft import Spectrogram

__all__ = [
    "SeparationConfig",
    "SeparatorModel",
    "SeparationTask",
    "score_separation",
    "separation_sums",
    "split_by_shape",
    "summarize_separation",
    "build_separator",
    "build_network",
    "METRICS",
    "LOG_EPS",
]

#: Per-source metrics summed by :meth:`SeparationTask.metric_sums`.
METRICS = ("sdr", "sir", "sar", "sdr_mix", "sdri", "sisdr", "sisdri")
#: Added to magnitudes before the log of the network input.
LOG_EPS = 1e-6
_SIZES = 5  # metric sums per mixture size 0..4 (4: four or more clips)


@dataclass
class SeparationConfig:
    """The ``task`` section shared by the separation tasks (SoP defaults scaled for CPU).

    Attributes:
        name: the task name.
        n_fft: FFT size (SoP 1022 at 11,025 Hz; here 256 at 8 kHz).
        hop: hop in samples (SoP 256; here 128).
        win_length: window length (default ``n_fft``).
        drop_last_bin: drop the Nyquist bin (VisualVoice; makes 128 rows of a 256 FFT).
        warp_rows: log-frequency warp rows (SoP 256 from 512 bins); null: linear frequency.
        mask: ``ratio`` (L1 loss) or ``binary`` (BCE loss, thresholded at 0.5 for evaluation).
        combine: how one mixture's masks make its estimates at inference (training is
            unchanged; :func:`avlearn.tasks.separation.masks.combine_masks`): ``independent``
            (each mask alone, SoP), ``argmax`` (each bin to the source with the largest mask) or
            ``normalize`` (masks divided by their sum over the mixture's sources).
        eval_metrics: compute BSS Eval metrics in evaluation passes.
    """

    name: str = "sop"
    n_fft: int = 256
    hop: int = 128
    win_length: int | None = None
    drop_last_bin: bool = True
    warp_rows: int | None = None
    mask: Literal["ratio", "binary"] = "ratio"
    combine: Literal["independent", "argmax", "normalize"] = "independent"
    eval_metrics: bool = True


@dataclass
class SeparatorModel(ModelConfig):
    """The ``model`` section of the separation tasks: a registered network and its keyword arguments.

    ``name`` is a registered separation network (``sound_of_pixels_small``, ``coseparation_small``,
    ``visualvoice_small``, ``audio_only_unet_small``); ``kwargs`` its builder arguments
    (``unet_levels``, ``unet_channels``, ``sound_channels``, ``visual_width``...); ``weights`` a
    local ``weights.pt`` or checkpoint of the whole task to start from; ``strict`` requires an
    exact key match when loading it. Each task subclasses it with its own default ``name``.
    """

    name: str = "sound_of_pixels_small"

    #: Network sizes the separation model sections held at top level before they named a
    #: registered network (``model: {unet_levels: 5, ...}``; :meth:`ModelConfig.upgrade`).
    legacy_keys: ClassVar[tuple[str, ...]] = ("unet_levels", "unet_channels", "sound_channels", "visual_width",
                                              "visual_channels", "max_outputs", "conditioning", "visual", "temporal")


def score_separation(reference: np.ndarray, estimate: np.ndarray, mixture: np.ndarray, *,
                     permutation: bool = False) -> dict[str, np.ndarray] | None:
    """BSS Eval and SI-SDR of one mixture's estimates, per reference source.

    Args:
        reference: (S, N) true sources.
        estimate: (S, N) estimates (estimate ``n`` for source ``n`` unless ``permutation``).
        mixture: (N,) the mixture.
        permutation: match estimates to sources by the best mean SIR (audio-only models).

    Returns:
        ``{metric: (S,)}`` for :data:`METRICS` plus ``perm``; None when a reference is silent
        or SDR / SI-SDR is not finite (the metric is undefined there). SIR and SAR may be +inf
        (the mixture itself has no artifacts). An all-zero estimate is scored as faint white
        noise (BSS Eval is undefined for silence and scale-invariant, so it scores like any
        noise estimate, far below the mixture).
    """
    from avlearn.metrics import sdr_improvement, si_sdr

    ref = np.asarray(reference, dtype=np.float64)
    if (np.square(ref).sum(-1) < 1e-10).any():
        return None
    estimate = np.array(estimate, dtype=np.float64)
    silent = np.square(estimate).sum(-1) == 0
    if silent.any():  # an all-zero estimate: faint noise keeps BSS Eval defined
        estimate[silent] = 1e-6 * np.random.default_rng(0).standard_normal(estimate[silent].shape)
    sc = sdr_improvement(ref, estimate, np.asarray(mixture, dtype=np.float64), compute_permutation=permutation)
    est = torch.as_tensor(np.asarray(estimate, dtype=np.float64)[sc.perm])
    r = torch.as_tensor(ref)
    sisdr = si_sdr(r, est).numpy()
    sisdr_mix = si_sdr(r, torch.as_tensor(np.asarray(mixture, dtype=np.float64))[None].expand_as(r)).numpy()
    out = {"sdr": sc.sdr, "sir": sc.sir, "sar": sc.sar, "sdr_mix": sc.sdr_mixture, "sdri": sc.sdri,
           "sisdr": sisdr, "sisdri": sisdr - sisdr_mix, "perm": sc.perm}
    if not all(np.isfinite(out[k]).all() for k in ("sdr", "sdr_mix", "sdri", "sisdr", "sisdri")):
        return None  # SIR / SAR may be +inf (no interference / no artifacts, e.g. the mixture itself)
    return out


def build_network(cfg: Any, cls: type[nn.Module], **from_task: Any) -> nn.Module:
    """``create_model(cfg.model.name, **from_task, **cfg.model.kwargs)``, checked to be a ``cls``.

    ``from_task`` holds the arguments the task section fixes (e.g. the classes of the
    object-consistency classifier); ``model.kwargs`` may not set them again.

    Raises:
        ConfigError: ``model.kwargs`` repeats an argument the task sets, the builder rejects a
            value, or ``model.name`` builds a network this task cannot drive.
    """
    from avlearn.models import create_model
    from avlearn.tasks.config import ConfigError

    from avlearn.models._registry import model_class

    m, source = cfg.model, f"task {cfg.task.name}"
    built = model_class(m.name)
    if built is not None and not issubclass(built, cls):
        raise ConfigError(source, "model.name", f"{m.name!r} builds a {built.__name__}; task {cfg.task.name!r} "
                          f"drives a {cls.__name__}")
    for k in sorted(set(from_task) & set(m.kwargs)):
        raise ConfigError(source, f"model.kwargs.{k}", f"is set by the task section ({from_task[k]!r}); remove it")
    try:
        net = create_model(m.name, **from_task, **m.kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(source, "model", f"{m.name}: {exc}") from None
    if not isinstance(net, cls):
        raise ConfigError(source, "model.name", f"{m.name!r} builds a {type(net).__name__}; task {cfg.task.name!r} "
                          f"drives a {cls.__name__}")
    return net


def build_separator(cls: Callable[[Any, nn.Module], "SeparationTask"], cfg: Any, *, visual: str | None,
                    network: type[nn.Module], **from_task: Any) -> "SeparationTask":
    """``cls(cfg.task, net)`` around the recipe's network (:func:`build_network`), with
    ``model.weights`` loaded, after checking ``data.visual``.

    Raises:
        ConfigError: the recipe's ``data.visual`` is not the view the model needs, or
            :func:`build_network`'s.
    """
    if visual is not None and cfg.data.visual != visual:
        from avlearn.tasks.config import ConfigError

        raise ConfigError(f"task {cfg.task.name}", "data.visual", f"must be {visual!r} for this model, got {cfg.data.visual!r}")
    task = cls(cfg.task, build_network(cfg, network, **from_task))
    if cfg.model.weights:
        from avlearn.tasks.runs import load_task_weights

        load_task_weights(task, cfg.model.weights, strict=cfg.model.strict)
    return task


class SeparationTask(Task):
    """Base of the separation tasks (see the module docstring).

    Args:
        cfg: the task section.
        complex_mask: override the class's :attr:`complex_mask`.

    Batches are those of :mod:`avlearn.tasks.separation.data`. Outputs: ``loss``, ``masks``
    (network domain) and, in eval mode, ``estimates`` (B, S, N) waveforms.
    """

    #: True for models whose outputs are not tied to a visual input (scored with permutations).
    permutation_invariant = False
    #: True for complex-mask models (no warp, no magnitude input).
    complex_mask = False

    def __init__(self, cfg: SeparationConfig, *, complex_mask: bool | None = None):
        super().__init__()
        self.cfg = cfg
        if complex_mask is not None:
            self.complex_mask = complex_mask
        self.spec = Spectrogram(n_fft=cfg.n_fft, hop=cfg.hop, win_length=cfg.win_length,
                                drop_last_bin=cfg.drop_last_bin, warp_rows=None if self.complex_mask else cfg.warp_rows)

    # ------------------------------------------------------------------ spectrograms

    def network_input(self, mix_spec: Tensor) -> Tensor:
        """Log magnitude of the mixture, warped: (B, 1, R, T) (SoP's ``log(mag_mix)``)."""
        return torch.log(self.spec.warp(mix_spec.abs().unsqueeze(1)) + LOG_EPS)

    def targets(self, mix_spec: Tensor, sources: Tensor) -> tuple[Tensor, Tensor]:
        """Ideal masks in the network's domain and the per-bin weight.

        Args:
            mix_spec: complex (B, F, T).
            sources: (B, S, N) target waveforms.

        Returns:
            ``(masks (B, S, R, T), weight (B, 1, R, T))`` from warped magnitudes.
        """
        src_mag = self.spec.warp(self.spec.stft(sources).abs())  # (B, S, R, T)
        mix_mag = self.spec.warp(mix_spec.abs().unsqueeze(1))  # (B, 1, R, T)
        if self.cfg.mask == "binary":
            target = M.binary_mask(src_mag, mix_mag)
        else:
            target = M.ratio_mask(src_mag, mix_mag)
        return target, M.mask_weight(mix_mag)

    def mask_loss(self, pred: Tensor, target: Tensor, weight: Tensor, valid: Tensor | None = None, *,
                  per_item: bool = False) -> Tensor:
        """SoP's weighted loss: BCE for binary masks, L1 for ratio masks (see :mod:`masks`)."""
        fn = M.weighted_bce if self.cfg.mask == "binary" else M.weighted_l1
        return fn(pred, target, weight, valid=valid, per_item=per_item)

    def linear_masks(self, pred: Tensor, valid: Tensor | None = None) -> Tensor:
        """Network-domain masks (B, S, R, T) -> the linear-frequency masks (B, S, F, T) that make
        the estimates, combined over the ``valid`` (B, S) sources by ``cfg.combine``."""
        return M.combine_masks(self.spec.unwarp(pred), rule=self.cfg.combine, binary=self.cfg.mask == "binary",
                               valid=valid)

    def competing(self, batch: dict[str, Any]) -> Tensor | None:
        """The (B, S) mask slots that compete for the bins under ``cfg.combine``: the valid sources."""
        return batch.get("valid")

    def reconstruct(self, pred: Tensor, mix_spec: Tensor, length: int, valid: Tensor | None = None) -> Tensor:
        """Waveforms (B, S, N) from predicted masks and the mixture (its phase)."""
        return self.spec.reconstruct(self.linear_masks(pred.float(), valid), mix_spec.unsqueeze(1), length)

    # ------------------------------------------------------------------ model hooks

    @abc.abstractmethod
    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        """Masks (B, S, R, T) in the network's domain from the input and the batch's visual keys."""

    def compute_loss(self, pred: Tensor, mix_spec: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        """``(loss, extra outputs)``; default: the mask loss over the valid sources."""
        target, weight = self.targets(mix_spec, batch["sources"])
        return self.mask_loss(pred, target, weight, batch["valid"]), {}

    # ------------------------------------------------------------------ task contract

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        if isinstance(batch["mixture"], list):  # mixtures of different lengths: one pass per length
            parts = [(sub, self.forward(sub)) for sub in split_by_shape(batch)]
            n = sum(sub["mixture"].shape[0] for sub, _ in parts)
            loss = sum(out["loss"] * sub["mixture"].shape[0] for sub, out in parts) / n
            return {"loss": loss, "parts": parts}
        mixture = batch["mixture"]  # (B, N)
        mix_spec = self.spec.stft(mixture)  # (B, F, T) complex
        pred = self.predict(self.network_input(mix_spec), batch)
        loss, extra = self.compute_loss(pred, mix_spec, batch)
        out = {"loss": loss, "masks": pred.detach(), **extra}
        if not self.training:
            out["estimates"] = self.reconstruct(pred.detach(), mix_spec, mixture.shape[-1], self.competing(batch))
        return out

    @torch.no_grad()
    def separate(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Eval-mode separation of a batch without targets: ``{"estimates", "masks"}``.

        ``batch`` needs ``mixture`` (B, N), ``valid`` (B, S) and the model's visual keys.
        """
        was = self.training
        self.eval()
        mix_spec = self.spec.stft(batch["mixture"])
        pred = self.predict(self.network_input(mix_spec), batch)
        valid = self.competing(batch)
        est = self.reconstruct(pred, mix_spec, batch["mixture"].shape[-1], valid)
        self.train(was)
        return {"estimates": est, "masks": pred, "linear_masks": self.linear_masks(pred.float(), valid)}

    def select_estimates(self, estimates: Tensor, valid: Tensor) -> Tensor:
        """The estimates scored against a sample's valid sources (tied to them by default)."""
        return estimates[valid]

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        if "parts" in outputs:  # a batch of several lengths (:meth:`forward`)
            total: dict[str, Tensor] = {}
            for sub, out in outputs["parts"]:
                for k, v in self.metric_sums(out, sub).items():
                    total[k] = total[k] + v if k in total else v
            return total
        if "estimates" not in outputs or not self.cfg.eval_metrics:
            return {}
        return separation_sums(outputs["estimates"], batch, permutation=self.permutation_invariant,
                               select=self.select_estimates)

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        return summarize_separation(sums)


def split_by_shape(batch: dict[str, Any]) -> list[dict[str, Any]]:
    """A batch whose samples differ in length (``mixture`` a list, as :func:`avlearn.data.collate`
    leaves ragged tensors) as sub-batches of one shape each, in order of first appearance.

    Every per-sample value (a tensor with the batch's leading size, or a list of that length)
    is indexed; tensors of one shape are stacked again; anything else is shared.
    """
    mixtures = batch["mixture"]
    if not isinstance(mixtures, list):
        return [batch]
    b = len(mixtures)

    def shape_of(i: int) -> tuple:
        return tuple(tuple(v[i].shape) for v in batch.values() if isinstance(v, list) and len(v) == b
                     and isinstance(v[i], Tensor))

    groups: dict[tuple, list[int]] = {}
    for i in range(b):
        groups.setdefault(shape_of(i), []).append(i)
    out = []
    for idx in groups.values():
        sub: dict[str, Any] = {}
        for k, v in batch.items():
            if isinstance(v, Tensor) and v.dim() > 0 and v.shape[0] == b:
                sub[k] = v[idx]
            elif isinstance(v, list) and len(v) == b:
                items = [v[i] for i in idx]
                sub[k] = torch.stack(items) if all(isinstance(x, Tensor) for x in items) else items
            else:
                sub[k] = v
        out.append(sub)
    return out


def separation_sums(estimates: Tensor, batch: dict[str, Any], *, permutation: bool = False,
                    select: Callable[[Tensor, Tensor], Tensor] | None = None) -> dict[str, Tensor]:
    """Sums of :data:`METRICS` over the valid sources of a batch, per mixture size.

    Args:
        estimates: (B, S', N) estimated waveforms.
        batch: the batch (``sources``, ``valid``, ``mixture``, ``num_clips``).
        permutation: score with the best permutation (audio-only models).
        select: ``select(estimates[b], valid[b]) -> (k, N)`` picks the estimates of the ``k``
            valid sources (default ``estimates[b][valid[b]]``).

    Returns:
        ``{metric: (5,) sums by number of mixed clips (4: four or more), "count": (5,),
        "undefined": ()}``; add them over batches and pass them to :func:`summarize_separation`.
    """
    est = estimates.detach().cpu().double()
    refs, valid = batch["sources"].detach().cpu().double(), batch["valid"].cpu()
    mix = batch["mixture"].detach().cpu().double()
    sizes = torch.as_tensor(batch.get("num_clips", valid.sum(1))).cpu().long().clamp(max=_SIZES - 1)
    sums = {k: torch.zeros(_SIZES, dtype=torch.float64) for k in (*METRICS, "count")}
    sums["undefined"] = torch.zeros((), dtype=torch.float64)
    for b in range(est.shape[0]):
        v = valid[b]
        if not v.any():
            continue
        chosen = select(est[b], v) if select is not None else est[b][v]
        sc = score_separation(refs[b][v].numpy(), chosen.numpy(), mix[b].numpy(), permutation=permutation)
        if sc is None:
            sums["undefined"] += 1
            continue
        k = int(sizes[b])
        for m in METRICS:
            sums[m][k] += float(np.sum(sc[m]))
        sums["count"][k] += float(v.sum())
    return sums


def summarize_separation(sums: dict[str, Tensor]) -> dict[str, float]:
    """Means of :func:`separation_sums` totals: every metric over all sources, plus
    ``sdr_<k>mix`` / ``sdri_<k>mix`` per mixture size, ``sources`` and ``undefined`` counts."""
    if "count" not in sums:
        return {}
    count = sums["count"]
    n = float(count.sum())
    out = {m: float(sums[m].sum()) / n if n else math.nan for m in METRICS}
    for k in range(_SIZES):
        if float(count[k]):
            out[f"sdri_{k}mix"] = float(sums["sdri"][k]) / float(count[k])
            out[f"sdr_{k}mix"] = float(sums["sdr"][k]) / float(count[k])
    out["sources"] = n
    out["undefined"] = float(sums.get("undefined", torch.zeros(())))
    return out
