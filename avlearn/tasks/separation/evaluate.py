"""Separation results with their baselines on a frozen list: the numbers of avlearn/recipes/README.md.

The protocol of Sound of Pixels (Zhao et al., ECCV 2018, Sec. 5.1) and its successors: mix
the frozen groups of clips (unit gains), separate, and report BSS Eval SDR / SIR / SAR
(Vincent et al. 2006; :func:`avlearn.metrics.bss_eval_sources`, equal to mir_eval to 0.01 dB)
with the mixture's own SDR so the improvement SDRi is reported, plus SI-SDR (Le Roux et al.
2019). Every table carries the baselines beside the model:

* ``mixture`` -- the mixture itself as every estimate (SDRi 0 by definition);
* ``oracle_irm`` -- the ideal ratio mask ``|S_n| / |X|`` (clamped to 5, the training target)
  on the model's linear-frequency STFT with the mixture's phase: the upper bound of
  magnitude-mask separators;
* ``oracle_ibm`` -- the ideal binary mask (each bin to its loudest source);
* ``audio_only_pit`` -- a trained audio-only permutation-invariant model, when given.

    >>> run = avlearn.load_run("runs/separate_instruments")
    >>> task, cfg = run.task, run.config
    >>> results = evaluate_separation(task, cfg, pit="runs/separate_instruments_pit/weights.pt")
    >>> print(format_results(results))
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable

import numpy as np
import torch
from torch import Tensor

from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.stft import Spectrogram
from avlearn.tasks.separation.task import SeparationTask, separation_sums, summarize_separation

__all__ = ["oracle_estimates", "evaluate_separation", "framewise_sums", "format_results", "BASELINES"]

#: Baselines computed without a model.
BASELINES = ("mixture", "oracle_irm", "oracle_ibm")


def oracle_estimates(batch: dict[str, Any], spec: Spectrogram, kind: str) -> Tensor:
    """Waveforms (B, S, N) of the oracle masks of a batch (``oracle_irm`` or ``oracle_ibm``).

    Padded sources get silence, so a padded source never wins a bin of the binary mask.
    """
    mix_spec = spec.stft(batch["mixture"])  # (B, F, T)
    src_mag = spec.stft(batch["sources"]).abs()  # (B, S, F, T)
    if kind == "oracle_irm":
        mask = M.ratio_mask(src_mag, mix_spec.abs().unsqueeze(1))
    elif kind == "oracle_ibm":
        mask = M.dominant_binary_masks(src_mag, dim=1)
    else:
        raise ValueError(f"unknown oracle {kind!r} (oracle_irm or oracle_ibm)")
    mask = mask * batch["valid"][:, :, None, None].to(mask.dtype)
    return spec.reconstruct(mask, mix_spec.unsqueeze(1), batch["mixture"].shape[-1])


def _batches(dataset, batch_size: int, collate: Callable) -> Iterable[dict[str, Any]]:
    """Batches of up to ``batch_size`` consecutive mixtures of one length.

    A user's list may mix clips of different lengths; a mixture is never padded or cut (that
    would change its STFT and its scores), so a batch ends where the length (the shape of any
    tensor of a sample) changes: every mixture is scored exactly as alone."""
    pending: list[dict[str, Any]] = []
    for j in range(len(dataset)):
        sample = dataset[j]
        if sample is None:
            continue
        if pending and (len(pending) == batch_size or _shapes(sample) != _shapes(pending[0])):
            yield _collated(pending, collate)
            pending = []
        pending.append(sample)
    if pending:
        yield _collated(pending, collate)


def _shapes(sample: dict[str, Any]) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in sample.items() if isinstance(v, Tensor)}


def _collated(samples: list[dict[str, Any]], collate: Callable) -> dict[str, Any]:
    batch = collate(samples)
    batch.pop("skipped", None)
    return batch


def _add(total: dict[str, Tensor], sums: dict[str, Tensor]) -> None:
    for k, v in sums.items():
        total[k] = total[k] + v if k in total else v.clone()


def evaluate_separation(
    task: SeparationTask,
    cfg: Any,
    *,
    split_list: str | os.PathLike | None = None,
    groups: list[dict[str, Any]] | None = None,
    pit: str | os.PathLike | SeparationTask | None = None,
    baselines: tuple[str, ...] = BASELINES,
    batch_size: int = 8,
    limit: int | None = None,
    progress: bool = False,
    framewise: tuple[float, float] | None = None,
) -> dict[str, dict[str, float]]:
    """The model, the baselines and (optionally) the audio-only model on one frozen list.

    Args:
        task: the trained separator (``avlearn.load_run(path).task``).
        cfg: its recipe (the data section says how to read the clips).
        split_list: the frozen list (default the recipe's test list).
        groups: the groups to mix instead of a list (as :func:`load_separation_list` returns).
        pit: an audio-only model (weights path or task) scored on the same mixtures.
        baselines: which of :data:`BASELINES` to add.
        batch_size: mixtures per forward pass.
        limit: score only the first N groups.
        progress: show a progress bar.
        framewise: ``(window, hop)`` in seconds: also score BSS Eval v4 per window (museval's
            rule, :func:`framewise_sums`), added as ``fw_sdr``, ``fw_isr``, ``fw_sir``, ``fw_sar``.

    Returns:
        ``{method: summary}`` with the keys of :func:`summarize_separation`; the model's row is
        named after its task.
    """
    from tqdm import tqdm

    from avlearn.tasks.separation.data import FrozenMixDataset, stem_clips, load_separation_list

    d = cfg.data
    if groups is None:
        path = split_list or d.test_list or os.path.join(d.world, "lists", "separation_test.jsonl")
        groups = load_separation_list(path, d.world if split_list is None else None)
    groups = groups[:limit]
    bank = stem_clips([], sample_rate=d.sample_rate, fps=d.fps, size=d.size, cache=True)
    dataset = FrozenMixDataset(groups, bank, d)
    methods: dict[str, Callable[[dict[str, Any]], tuple[Tensor, bool, Callable | None]]] = {}
    methods[cfg.task.name] = lambda b: (task.separate(b)["estimates"], task.permutation_invariant, task.select_estimates)
    for name in baselines:
        if name == "mixture":
            methods[name] = lambda b: (b["mixture"][:, None].expand_as(b["sources"]), False, None)
        else:
            methods[name] = lambda b, name=name: (oracle_estimates(b, task.spec, name), False, None)
    if pit is not None:
        if isinstance(pit, SeparationTask):
            pit_task = pit
        else:
            from avlearn.tasks.runs import load_run

            pit_task = load_run(pit).task
        methods[pit_task.cfg.name if pit_task.cfg.name != cfg.task.name else "audio_only_pit"] = (
            lambda b: (pit_task.separate(b)["estimates"], pit_task.permutation_invariant, pit_task.select_estimates))
    totals: dict[str, dict[str, Tensor]] = {m: {} for m in methods}
    fw_totals: dict[str, dict[str, Tensor]] = {m: {} for m in methods}
    bar = tqdm(total=len(dataset), desc="separation eval", disable=not progress)
    with torch.no_grad():
        for batch in _batches(dataset, batch_size, task.collate):
            for name, fn in methods.items():
                est, perm, select = fn(batch)
                _add(totals[name], separation_sums(est, batch, permutation=perm, select=select))
                if framewise is not None:
                    _add(fw_totals[name], framewise_sums(est, batch, d.sample_rate, *framewise, permutation=perm, select=select))
            bar.update(int(batch["mixture"].shape[0]))
    bar.close()
    return {name: {**summarize_separation(t), **_fw_means(fw_totals[name])} for name, t in totals.items()}


def framewise_sums(estimates: Tensor, batch: dict[str, Any], sample_rate: int, window: float, hop: float, *,
                   permutation: bool = False, select: Callable | None = None) -> dict[str, Tensor]:
    """Sums over the valid sources of a batch of the per-source medians of BSS Eval v4
    (Stöter et al. 2018; :func:`avlearn.metrics.bss_eval_framewise`), windows of ``window``
    seconds every ``hop``; a source with no defined window is counted in ``fw_undefined``."""
    from avlearn.metrics import aggregate_framewise, bss_eval_framewise

    est, refs, valid = estimates.detach().cpu().double(), batch["sources"].detach().cpu().double(), batch["valid"].cpu()
    sums = {k: torch.zeros((), dtype=torch.float64) for k in ("fw_sdr", "fw_isr", "fw_sir", "fw_sar", "fw_count", "fw_undefined")}
    for b in range(est.shape[0]):
        v = valid[b]
        if not v.any():
            continue
        chosen = select(est[b], v) if select is not None else est[b][v]
        try:
            med = aggregate_framewise(bss_eval_framewise(refs[b][v].numpy(), chosen.numpy(), sample_rate=sample_rate,
                                                         window=window, hop=hop, compute_permutation=permutation))
        except ValueError:  # a silent source or estimate: undefined, as in separation_sums
            sums["fw_undefined"] += float(v.sum())
            continue
        ok = np.isfinite(np.stack(med)).all(0)  # (S,)
        for key, m in zip(("fw_sdr", "fw_isr", "fw_sir", "fw_sar"), med):
            sums[key] += float(m[ok].sum())
        sums["fw_count"] += float(ok.sum())
        sums["fw_undefined"] += float((~ok).sum())
    return sums


def _fw_means(sums: dict[str, Tensor]) -> dict[str, float]:
    if not sums:
        return {}
    n = float(sums["fw_count"])
    out = {k: float(sums[k]) / n if n else float("nan") for k in ("fw_sdr", "fw_isr", "fw_sir", "fw_sar")}
    out["fw_undefined"] = float(sums["fw_undefined"])
    return out


def format_results(results: dict[str, dict[str, float]], *, reference: str = "oracle_irm") -> str:
    """A markdown table: SDR / SIR / SAR / SDRi / SI-SDRi per method, SDRi by mixture size, and
    each method's SDRi as a share of ``reference``'s."""
    ref = results.get(reference, {}).get("sdri")
    lines = ["| method | SDR | SIR | SAR | SDRi | SDRi (2 mix) | SDRi (3 mix) | SI-SDRi | % of IRM SDRi |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        share = f"{100 * r['sdri'] / ref:.0f}%" if ref and name != "mixture" else "-"
        lines.append(
            f"| {name} | {r['sdr']:.2f} | {r['sir']:.2f} | {r['sar']:.2f} | {r['sdri']:.2f} | "
            f"{r.get('sdri_2mix', float('nan')):.2f} | {r.get('sdri_3mix', float('nan')):.2f} | {r['sisdri']:.2f} | {share} |"
        )
    if any("fw_sdr" in r for r in results.values()):  # BSS Eval v4, medians over windows
        lines += ["", "| method | v4 SDR | v4 ISR | v4 SIR | v4 SAR |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {name} | {r['fw_sdr']:.2f} | {r['fw_isr']:.2f} | {r['fw_sir']:.2f} | {r['fw_sar']:.2f} |"
                  for name, r in results.items() if "fw_sdr" in r]
    return "\n".join(lines)
