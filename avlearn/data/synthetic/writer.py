"""Writing a world to disk: media, lossless stems, truth, manifests and frozen lists.

:func:`make_world` generates every clip of every split in a process pool (each worker
generates, encodes and writes whole clips: h264 + AAC mp4 through
:func:`avlearn.io.write_av` with x264 ``veryfast``, ``deterministic=True``; FLAC stems through
:func:`avlearn.io.write_audio`), then writes the manifests, the frozen lists and, last,
``world.json``, which marks the world complete. The layout is documented in docs/world.md.

A world is reproducible: the same config, seed and clip counts give byte-identical media,
stems, truth, manifests and lists, with any number of workers (scenes are functions of their
seeds, the encoders run in their deterministic mode, rows are written in job order).

Splits draw their clip seeds from disjoint streams: clip ``i`` of split ``s`` has the seed
``SeedSequence([seed, crc32(s)]).generate_state(n, uint64)[i]``, so a split's clips do not
depend on the other splits' sizes.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from avlearn.data.synthetic.catalog import classes_for
from avlearn.data.synthetic.config import WORLD_VERSION, WorldConfig
from avlearn.data.synthetic.lists import build_lists
from avlearn.data.synthetic.generate import generate_clip
from avlearn.data.synthetic.truth import list_path, write_jsonl

__all__ = ["make_world", "clip_seeds", "write_scene", "SPLITS"]

SPLITS: tuple[str, ...] = ("train", "val", "test")
_LIST_SPLITS = ("val", "test")


def clip_seeds(seed: int, split: str, count: int) -> list[int]:
    """The seeds of a split's clips (64-bit, from a stream keyed by the split's name)."""
    ss = np.random.SeedSequence([int(seed), zlib.crc32(split.encode())])
    return [int(s) for s in ss.generate_state(count, dtype=np.uint64)] if count else []


def write_scene(root: str | os.PathLike, split: str, clip_id: str, scene: Any, config: WorldConfig) -> dict[str, Any]:
    """Write one scene's mp4, stems and truth; return its manifest row.

    Args:
        root: the world root ``OUT``.
        split: split name (the folder under ``OUT``).
        clip_id: the clip's id (file stem).
        scene: a :class:`~avlearn.data.synthetic.scene.Scene`.
        config: the world config.

    Returns:
        The manifest row (paths relative to ``OUT/<split>/``), with the truth dict under the
        private key ``"_truth"`` for building the lists.
    """
    from avlearn.io import write_audio, write_av

    split_dir = Path(root) / split
    write_av(split_dir / "clips" / f"{clip_id}.mp4", scene.video, scene.audio, fps=config.fps,
             sample_rate=config.sample_rate, audio_bitrate=64_000, deterministic=True)
    stems = {}
    for sid, stem in scene.stems.items():
        rel = f"stems/{clip_id}/{sid}.flac"
        write_audio(split_dir / rel, stem, config.sample_rate, deterministic=True)
        stems[sid] = rel
    truth = {"version": WORLD_VERSION, "id": clip_id, "split": split, **scene.truth}
    truth_rel = f"truth/{clip_id}.json"
    (split_dir / "truth").mkdir(parents=True, exist_ok=True)
    with open(split_dir / truth_rel, "w", encoding="utf-8") as f:
        json.dump(truth, f, separators=(",", ":"))
    row = {"path": f"clips/{clip_id}.mp4", "label": truth["label"], "start": 0.0, "end": config.duration,
           "id": clip_id, "label_name": truth["label_name"], "labels": truth["labels"], "truth": truth_rel,
           "stems": stems, "num_sources": truth["num_sources"], "num_onscreen": truth["num_onscreen"]}
    if "segments" in truth:
        row["segments"] = [[s["start"], s["end"], s["label"]] for s in truth["segments"]]
    for key in ("carrier", "motion_from", "sound_from", "synchronous", "keyframes"):  # av_classes, actors
        if key in truth:
            row[key] = truth[key]
    if "actors" in truth:
        row["num_actors"] = len(truth["actors"])
    row["_truth"] = truth
    return row


def _job(args: tuple[str, str, int, int, dict[str, Any]]) -> dict[str, Any]:
    root, split, index, seed, cfg = args
    config = WorldConfig.from_dict(cfg)
    return write_scene(root, split, f"{split}_{index:06d}", generate_clip(config, seed), config)


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"


def _read_meta(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f)
    except (OSError, ValueError):
        return {}
    return old if isinstance(old, dict) else {}


def _old_splits(path: Path) -> list[str]:
    splits = _read_meta(path).get("splits", {})
    return list(splits) if isinstance(splits, dict) else []


def _existing(root: Path, meta: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    path = root / "world.json"
    if not path.exists() or overwrite:
        return None
    old = _read_meta(path)
    same = all(old.get(k) == meta[k] for k in ("version", "config", "seed", "splits"))
    if not same:
        raise FileExistsError(f"{path}: a different world is already there; pass overwrite=True (--overwrite)")
    return old


def make_world(out_dir: str | os.PathLike, config: WorldConfig | None = None, clips: dict[str, int] | None = None,
               seed: int | None = None, workers: int = 2, progress: bool = True,
               overwrite: bool = False) -> dict[str, Any]:
    """Generate and write a whole world.

    Args:
        out_dir: the world root ``OUT`` (created).
        config: the world config (default :class:`WorldConfig()`).
        clips: clips per split, e.g. ``{"train": 200, "val": 20, "test": 20}`` (the default).
        seed: world seed (default ``config.seed``).
        workers: processes generating clips (1: in this process).
        progress: show a tqdm progress bar.
        overwrite: regenerate even if a world is already there. Without it an identical world
            (same config, seed and clip counts) is reused as is, and a different one raises.

    Returns:
        The contents of ``world.json``.

    Raises:
        FileExistsError: a different world already lives in ``out_dir``.
        avlearn.io.EncodeError: writing a media file failed.
    """
    from tqdm import tqdm

    config = config or WorldConfig()
    seed = config.seed if seed is None else int(seed)
    config = config.replace(seed=seed) if config.seed != seed else config
    clips = dict(clips or {"train": 200, "val": 20, "test": 20})
    root = Path(out_dir)
    split_seeds = {split: int(np.random.SeedSequence([seed, zlib.crc32(split.encode())]).generate_state(1)[0])
                   for split in clips}
    meta = {
        "version": WORLD_VERSION, "kind": config.kind, "config": config.to_dict(), "seed": seed,
        "classes": classes_for(config.kind, config.families, config.action_classes),
        "splits": {s: {"clips": int(n), "manifest": f"{s}/manifest.jsonl", "seed": split_seeds[s]}
                   for s, n in clips.items()},
    }
    reused = _existing(root, meta, overwrite)
    if reused is not None:
        return reused
    if (root / "world.json").exists():  # an old world being overwritten: clear what it wrote
        for sub in [*_old_splits(root / "world.json"), "lists"]:
            if sub.isidentifier() and (root / sub).is_dir():  # plain names only, never a path
                shutil.rmtree(root / sub)
        (root / "world.json").unlink()
    cfg = config.to_dict()
    jobs = [(str(root), split, i, s, cfg) for split, n in clips.items() for i, s in enumerate(clip_seeds(seed, split, n))]
    rows: dict[str, list[dict[str, Any]]] = {split: [] for split in clips}
    pool = None
    if workers > 1 and len(jobs) > 1:
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        pool = mp.get_context(method).Pool(min(workers, len(jobs)), initializer=_worker_init)
    try:
        results = pool.imap(_job, jobs, chunksize=4) if pool else map(_job, jobs)
        with tqdm(total=len(jobs), desc=f"make-world {config.kind}", unit="clip", disable=not progress) as bar:
            for job, row in zip(jobs, results):
                rows[job[1]].append(row)
                bar.update(1)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    lists_meta: dict[str, str] = {}
    for split, split_rows in rows.items():
        write_jsonl(root / split / "manifest.jsonl", [{k: v for k, v in r.items() if k != "_truth"} for r in split_rows])
        if config.kind == "actions":
            write_jsonl(root / split / "segments.jsonl", [
                {"path": r["path"], "start": s["start"], "end": s["end"], "label": s["label"],
                 "label_name": s["label_name"], "video_id": r["id"], "truth": r["truth"]}
                for r in split_rows for s in r["_truth"]["segments"]])
        if split not in _LIST_SPLITS:
            continue
        records = [{"id": r["id"], "clip": f"{split}/{r['path']}", "truth": f"{split}/{r['truth']}",
                    "stems": {k: f"{split}/{v}" for k, v in r["stems"].items()}, "truth_data": r["_truth"]}
                   for r in split_rows]
        for task, task_rows in build_lists(config.kind, records, split_seeds[split] ^ 0x5EED).items():
            path = list_path(root, task, split)
            write_jsonl(path, task_rows)
            lists_meta[f"{task}_{split}"] = str(path.relative_to(root))
    meta["lists"] = lists_meta
    tmp = root / "world.json.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, root / "world.json")
    return meta
