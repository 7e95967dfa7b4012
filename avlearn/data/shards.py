"""Sharded storage: WebDataset-style tar shards of media bytes plus their manifest rows.

A dataset of millions of small files is slow on most filesystems (one open and one seek per
clip); the WebDataset layout (Breuel et al., "WebDataset", 2020, and the large-scale training
recipes that read it) packs samples into tar files read sequentially. Each sample is a group of
consecutive members sharing a key: ``<key>.<ext>`` holds the media file's bytes (``mp4``,
``wav``...) and ``<key>.json`` its manifest row (``path`` kept as ``source_path``). Shards are
named ``shard-000000.tar`` ... and listed with their sample counts in ``shards.json``.

:class:`ShardDataset` reads shards one after another through a shuffle buffer, dealing whole
shards to the ``world_size x num_workers`` parts of a DDP run (rank from
``torch.distributed`` or given) so that every sample is read once per epoch; with fewer shards
than parts, each part reads every shard and keeps every ``parts``-th sample instead. A
``decode`` callable turns a raw sample ``{"key", "row", "media", "ext"}`` into a training
sample; :class:`ClipDecoder` cuts a random window from the bytes with
:func:`avlearn.io.read_clip` (which opens bytes directly).
"""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import tarfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from avlearn import io as avio
from avlearn.data._parts import resolve_rank, stream_part
from avlearn.data.manifest import ManifestRow, known_length, load_manifest

__all__ = ["parse_size", "ShardWriter", "write_shards", "list_shards", "ShardDataset", "ClipDecoder"]

logger = logging.getLogger(__name__)

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_size(text: str | int) -> int:
    """Bytes of a size like ``1GB``, ``500MB``, ``64KiB`` or ``1000000``.

    Raises:
        ValueError: not a size (the message quotes it).
    """
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    if not m or m[2].upper() not in _UNITS:
        raise ValueError(f"not a size: {text!r} (e.g. 1GB, 500MB, 64MiB, or bytes)")
    size = int(float(m[1]) * _UNITS[m[2].upper()])
    if size <= 0:
        raise ValueError(f"size must be > 0, got {text!r}")
    return size


def _row_record(row: ManifestRow) -> dict[str, Any]:
    return {"source_path": row.path, "label": row.label, "start": row.start, "end": row.end, **row.extra}


class ShardWriter:
    """Writes samples into numbered tar shards of at most ``shard_size`` bytes each (a sample
    larger than that gets a shard of its own).

    Args:
        out: the shards' folder (created).
        shard_size: bytes per shard.
        pattern: shard file name with one integer field.
    """

    def __init__(self, out: str | os.PathLike, shard_size: int, pattern: str = "shard-{:06d}.tar"):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.shard_size, self.pattern = int(shard_size), pattern
        self.shards: list[dict[str, Any]] = []
        self._tar: tarfile.TarFile | None = None
        self._bytes = 0

    def _open(self) -> None:
        name = self.pattern.format(len(self.shards))
        self._tar = tarfile.open(self.out / name, "w", format=tarfile.USTAR_FORMAT)
        self.shards.append({"name": name, "samples": 0, "bytes": 0})
        self._bytes = 0

    def _add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode, info.uname, info.gname = len(data), 0, 0o644, "avlearn", "avlearn"
        self._tar.addfile(info, io.BytesIO(data))

    def write(self, key: str, media: bytes, ext: str, row: dict[str, Any]) -> None:
        """Add one sample: ``<key>.<ext>`` (the media bytes) and ``<key>.json`` (the row)."""
        if "." in key or "/" in key:
            raise ValueError(f"ShardWriter: key {key!r} must not contain '.' or '/'")
        meta = json.dumps(row).encode("utf-8")
        size = len(media) + len(meta) + 3 * 512
        if self._tar is None or (self._bytes and self._bytes + size > self.shard_size):
            self.close()
            self._open()
        self._add(f"{key}.{ext}", media)
        self._add(f"{key}.json", meta)
        self._bytes += size
        self.shards[-1]["samples"] += 1
        self.shards[-1]["bytes"] = self._bytes

    def close(self) -> None:
        """Finish the current shard."""
        if self._tar is not None:
            self._tar.close()
            self._tar = None


def write_shards(
    manifest: str | os.PathLike | Sequence[ManifestRow],
    out: str | os.PathLike,
    *,
    shard_size: int | str = "1GB",
    probe: bool = True,
) -> dict[str, Any]:
    """Pack the media of a manifest's rows into tar shards.

    Args:
        manifest: a manifest (any form :func:`~avlearn.data.load_manifest` reads) or rows.
        out: the shards' folder: ``shard-NNNNNN.tar`` and ``shards.json``.
        shard_size: bytes per shard (an int or a size such as ``"1GB"``).
        probe: leave out files :func:`avlearn.io.probe` cannot read (counted as ``unreadable``).

    Returns:
        ``shards.json``'s content: ``{"shards": [{"name", "samples", "bytes"}], "samples",
        "missing", "unreadable", "skipped": [[source_path, reason], ...]}``.
    """
    rows = load_manifest(manifest) if isinstance(manifest, (str, os.PathLike)) else list(manifest)
    writer = ShardWriter(out, parse_size(shard_size))
    missing = unreadable = 0
    skipped = []
    try:
        for i, row in enumerate(rows):
            try:
                with open(row.path, "rb") as fh:
                    media = fh.read()
            except OSError as exc:
                missing += 1
                skipped.append([row.path, exc.strerror or str(exc)])
                continue
            if probe:
                try:
                    avio.probe(media)
                except avio.MediaError as exc:
                    unreadable += 1
                    skipped.append([row.path, exc.reason])
                    continue
            ext = os.path.splitext(row.path)[1].lstrip(".").lower() or "bin"
            writer.write(f"{i:09d}", media, ext, _row_record(row))
    finally:
        writer.close()
    index = {"shards": writer.shards, "samples": sum(s["samples"] for s in writer.shards),
             "missing": missing, "unreadable": unreadable, "skipped": skipped}
    (Path(out) / "shards.json").write_text(json.dumps(index, indent=1) + "\n", encoding="utf-8")
    return index


def list_shards(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[str]:
    """Shard paths from a folder (``shards.json`` order, else every ``*.tar`` sorted), a
    ``shards.json`` file, one ``.tar``, or a list of paths.

    Raises:
        FileNotFoundError: nothing to read.
    """
    if not isinstance(source, (str, os.PathLike)):
        return [os.fspath(p) for p in source]
    path = Path(source)
    if path.is_dir() and (path / "shards.json").is_file():
        path = path / "shards.json"
    if path.is_file() and path.suffix == ".json":
        return [str(path.parent / s["name"]) for s in json.loads(path.read_text(encoding="utf-8"))["shards"]]
    if path.is_file():
        return [str(path)]
    found = sorted(str(p) for p in path.glob("*.tar")) if path.is_dir() else []
    if not found:
        raise FileNotFoundError(f"{path}: no tar shards")
    return found


def iter_shard(path: str) -> Iterator[dict[str, Any]]:
    """Raw samples ``{"key", "row", "media", "ext", "shard"}`` of one shard, in order.

    Raises:
        ValueError: a damaged tar or a sample without its ``.json`` row (names the shard).
    """
    def finish(key, parts):
        if "json" not in parts:
            raise ValueError(f"{path}: sample {key} has no .json row")
        row = json.loads(parts.pop("json"))
        ext, media = next(iter(parts.items())) if parts else (None, None)
        return {"key": key, "row": row, "media": media, "ext": ext, "shard": path}

    try:
        with tarfile.open(path, "r|") as tar:
            key, parts = None, {}
            for member in tar:
                if not member.isfile():
                    continue
                name = os.path.basename(member.name)
                k, _, ext = name.partition(".")
                if key is not None and k != key:
                    yield finish(key, parts)
                    parts = {}
                key = k
                parts[ext] = tar.extractfile(member).read()
            if key is not None:
                yield finish(key, parts)
    except tarfile.TarError as exc:
        raise ValueError(f"{path}: damaged tar shard ({exc})") from None


class ShardDataset(IterableDataset):
    """Samples of tar shards, read sequentially through a shuffle buffer, split across DDP
    ranks and DataLoader workers without duplicates.

    Args:
        shards: a folder of shards, a ``shards.json``, one tar, or a list of tars.
        decode: maps a raw sample ``{"key", "row", "media" (bytes), "ext", "shard"}`` to a
            training sample, or to None to skip it (e.g. :class:`ClipDecoder`); None yields
            raw samples.
        shuffle_buffer: samples held for shuffling (0: shard order; memory grows with it, not
            with the dataset).
        shuffle_shards: shuffle the shard order each epoch.
        seed: seed of the shard order and the shuffle buffer.
        rank, world_size: this process's DDP rank (default: the process group's, or 0 of 1).
    """

    def __init__(self, shards, *, decode: Callable[[dict[str, Any]], Any] | None = None, shuffle_buffer: int = 0,
                 shuffle_shards: bool = True, seed: int = 0, rank: int | None = None, world_size: int | None = None):
        self.shards = list_shards(shards)
        self.decode, self.shuffle_buffer, self.shuffle_shards = decode, int(shuffle_buffer), bool(shuffle_shards)
        self.seed = int(seed)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._bad = torch.zeros(257, dtype=torch.int64).share_memory_()  # damaged shards, per process slot

    def set_epoch(self, epoch: int) -> None:
        """Shuffle for ``epoch`` (seen by running workers too)."""
        self._epoch.fill_(int(epoch))

    @property
    def bad_shards(self) -> int:
        """Shards given up because their tar was damaged (all workers; the samples read before
        the damage were kept)."""
        return int(self._bad.sum())

    def _read(self, shard: str) -> Iterator[dict[str, Any]]:
        try:
            yield from iter_shard(shard)
        except ValueError as exc:  # a damaged shard is skipped and counted, not fatal
            info = torch.utils.data.get_worker_info()
            self._bad[0 if info is None else 1 + info.id % 256] += 1
            logger.warning("ShardDataset: skipping the rest of %s", exc)

    def _raw(self, part: int, parts: int, epoch: int) -> Iterator[dict[str, Any]]:
        order = list(self.shards)
        if self.shuffle_shards:
            order = [order[i] for i in np.random.default_rng([self.seed, epoch]).permutation(len(order))]
        if len(order) >= parts:  # whole shards per part: sequential reads, no sample read twice
            for shard in order[part::parts]:
                yield from self._read(shard)
            return
        k = 0
        for shard in order:  # fewer shards than parts: every part reads all, keeps its samples
            for sample in self._read(shard):
                if k % parts == part:
                    yield sample
                k += 1

    def __iter__(self) -> Iterator[Any]:
        part, parts = stream_part(self.rank, self.world_size)
        epoch = int(self._epoch)
        rng = np.random.default_rng([self.seed, epoch, part, 1])
        buffer: list[dict[str, Any]] = []
        for sample in self._raw(part, parts, epoch):
            if self.shuffle_buffer <= 1:
                out = sample
            elif len(buffer) < self.shuffle_buffer:
                buffer.append(sample)
                continue
            else:
                j = int(rng.integers(len(buffer)))
                out, buffer[j] = buffer[j], sample
            yield from self._decoded(out)
        for j in rng.permutation(len(buffer)):
            yield from self._decoded(buffer[j])

    def _decoded(self, sample: dict[str, Any]) -> Iterable[Any]:
        if self.decode is None:
            return (sample,)
        out = self.decode(sample)
        return () if out is None else (out,)


class ClipDecoder:
    """Decodes a shard sample: a random ``window`` of its row's span, read from the bytes.

    Too-short spans and undecodable bytes give None (the sample is skipped) and are counted in
    :attr:`too_short` / :attr:`unreadable` (per process).

    Args:
        window: seconds per sample.
        fps, size, sample_rate, mono, video, audio: :func:`avlearn.io.read_clip` options.
        transform: applied to the sample dict.
        seed: seed of the window placement (with the sample's key).
    """

    def __init__(self, window: float, *, fps: float | None = None, size=None, sample_rate: int | None = None,
                 mono: bool = False, video: bool = True, audio: bool = True, transform=None, seed: int = 0):
        self.window = float(window)
        self.read_options = dict(fps=fps, size=size, sample_rate=sample_rate, mono=mono, video=video, audio=audio)
        self.transform, self.seed = transform, int(seed)
        self.too_short = self.unreadable = 0

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any] | None:
        row, data = sample["row"], sample["media"]
        begin = row.get("start") or 0.0
        try:
            extra = {k: v for k, v in row.items() if k not in ("source_path", "label", "start", "end")}
            length = known_length(ManifestRow(path="", start=row.get("start"), end=row.get("end"), extra=extra))
            if length is None:
                length = avio.probe(data).duration - begin
            if length + 1e-9 < self.window:
                self.too_short += 1
                return None
            rng = np.random.default_rng([self.seed, int(sample["key"]) if sample["key"].isdigit() else 0])
            offset = float(rng.uniform(0.0, length - self.window))
            fps = self.read_options["fps"]
            if fps:
                offset = math.floor(offset * fps + 1e-6) / fps
            clip = avio.read_clip(data, begin + offset, self.window, threads=1, **self.read_options)
        except avio.MediaError:
            self.unreadable += 1
            return None
        out = {k: v for k, v in row.items() if k not in ("start", "end")}
        out.update(key=sample["key"], start=float(clip.start), duration=float(clip.duration))
        if clip.video is not None:
            out.update(video=clip.video, fps=float(clip.fps))
        if clip.audio is not None:
            out.update(audio=clip.audio, sample_rate=int(clip.sample_rate))
        return self.transform(out) if self.transform is not None else out
