"""Cache dense optical flow for a dataset's videos (the two-stream temporal input).

Reads every video listed in a manifest (CSV / JSONL, see ``avlearn.data.manifest``; a row's
``start``/``end`` span is honoured) or found under a folder, computes flow between consecutive
frames with :func:`avlearn.flow.optical_flow`, and writes one compressed npz per video (or
span) of uint8-quantised flow with :func:`avlearn.flow.save_flow`; read it back with
:func:`avlearn.flow.load_flow` -> ``(T-1, 2, H, W)`` float pixels.

    python data_prep/cache_flow.py data/world/train/manifest.jsonl --out data/flow --fps 16 --size 64
    python data_prep/cache_flow.py videos/ --out flow/ --method horn_schunck --bound 20

Output names mirror the input: ``OUT/<path relative to the manifest's folder or the input
folder, extension replaced by .npz>``, with ``@<start>-<end>`` before ``.npz`` for a row with
a span. Existing outputs are kept unless ``--overwrite`` (so an interrupted run resumes).
Unreadable videos (any ``avlearn.io.MediaError``) are skipped, counted and listed at the end;
the exit status is 1 only when every video failed.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
from tqdm import tqdm

from avlearn.data.manifest import load_manifest
from avlearn.flow import FLOW_METHODS, optical_flow, save_flow
from avlearn.io import MediaError, read_clip

__all__ = ["CacheReport", "FlowJob", "cache_flow", "find_jobs", "main", "output_path"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg")


@dataclass(frozen=True)
class FlowJob:
    """One video (or one span of it) to compute flow for.

    Attributes:
        path: absolute path of the video.
        root: the folder output names are made relative to.
        start: span start in seconds (None: the file's start).
        end: span end in seconds (None: the file's end).
    """

    path: str
    root: str
    start: float | None = None
    end: float | None = None


@dataclass
class CacheReport:
    """What :func:`cache_flow` did: files written, kept (already there) and failed."""

    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def find_jobs(source: str | os.PathLike) -> list[FlowJob]:
    """The videos of a manifest file or, for a folder, every video file below it (sorted)."""
    source = Path(source)
    if source.is_dir():
        root = str(source.resolve())
        files = sorted(p for p in source.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
        return [FlowJob(str(p.resolve()), root) for p in files]
    root = str(source.resolve().parent)
    return [FlowJob(row.path, root, row.start, row.end) for row in load_manifest(source)]


def output_path(job: FlowJob, out_dir: str | os.PathLike) -> str:
    """Where the flow of ``job`` goes: its path relative to ``job.root`` under ``out_dir``, as .npz."""
    rel = os.path.relpath(job.path, job.root)
    if rel.startswith(os.pardir):  # a manifest row outside the manifest's folder
        rel = os.path.basename(job.path)
    stem = os.path.splitext(rel)[0]
    if job.start is not None or job.end is not None:
        stem += f"@{job.start or 0:g}-{'end' if job.end is None else f'{job.end:g}'}"
    return os.path.join(os.fspath(out_dir), stem + ".npz")


def _clip_flow(frames: torch.Tensor, method: str, chunk: int) -> torch.Tensor:
    """Flow of a (T, H, W, 3) uint8 clip in chunks of ``chunk`` frame pairs: (T-1, 2, H, W)."""
    parts = [optical_flow(frames[i : i + chunk + 1], method=method) for i in range(0, frames.shape[0] - 1, chunk)]
    return torch.cat(parts)


def cache_flow(
    jobs: list[FlowJob],
    out_dir: str | os.PathLike,
    *,
    method: str = "lucas_kanade",
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    bound: float = 20.0,
    chunk: int = 32,
    overwrite: bool = False,
    progress: bool = True,
) -> CacheReport:
    """Compute and write the flow of every job; unreadable videos are skipped and reported.

    Args:
        jobs: from :func:`find_jobs`.
        out_dir: output folder.
        method: an :data:`avlearn.flow.FLOW_METHODS` entry.
        fps: resample the video to this rate first (None: native rate).
        size: frame size for :func:`avlearn.io.read_clip` ((H, W) or the short side).
        bound: quantisation bound in pixels (flow is clipped to +-bound).
        chunk: frame pairs per flow call (bounds memory on long videos).
        overwrite: recompute files that already exist.
        progress: show a progress bar on stderr.
    """
    report = CacheReport()
    for job in tqdm(jobs, desc="flow", unit="video", disable=not progress, file=sys.stderr):
        dest = output_path(job, out_dir)
        if os.path.exists(dest) and not overwrite:
            report.kept.append(dest)
            continue
        start = job.start or 0.0
        duration = None if job.end is None else job.end - start
        try:
            clip = read_clip(job.path, start, duration, fps=fps, size=size, audio=False)
            if clip.video is None or clip.video.shape[0] < 2:
                raise MediaError(job.path, "fewer than 2 frames; no flow")
        except MediaError as exc:
            report.failed.append((job.path, exc.reason))
            continue
        flow = _clip_flow(clip.video, method, chunk)  # (T-1, 2, H, W)
        save_flow(
            dest, flow, bound=bound, source=job.path, fps=float(clip.fps or 0.0), start=float(clip.start), method=method
        )
        report.written.append(dest)
    return report


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The command-line options (shared with any wrapper command)."""
    parser = parser or argparse.ArgumentParser(
        prog="cache_flow.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("source", help="a manifest (.csv / .jsonl) or a folder of videos")
    parser.add_argument("--out", required=True, help="output folder for the .npz files")
    parser.add_argument(
        "--method", default="lucas_kanade", choices=FLOW_METHODS, help="flow estimator (farneback/dis need OpenCV)"
    )
    parser.add_argument("--fps", type=float, default=None, help="resample video to this frame rate first")
    parser.add_argument("--size", type=int, nargs="+", default=None, metavar="N", help="short side, or H W")
    parser.add_argument("--bound", type=float, default=20.0, help="quantisation bound in pixels")
    parser.add_argument("--chunk", type=int, default=32, help="frame pairs per flow call")
    parser.add_argument("--overwrite", action="store_true", help="recompute existing outputs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (1 only when every video failed)."""
    args = build_parser().parse_args(argv)
    size = None if args.size is None else (args.size[0] if len(args.size) == 1 else tuple(args.size[:2]))
    jobs = find_jobs(args.source)
    report = cache_flow(
        jobs,
        args.out,
        method=args.method,
        fps=args.fps,
        size=size,
        bound=args.bound,
        chunk=args.chunk,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(
        f"flow: {len(report.written)} written, {len(report.kept)} already there, {len(report.failed)} unreadable -> {args.out}"
    )
    for path, reason in report.failed:
        print(f"  skipped {path}: {reason}")
    return 1 if report.failed and not (report.written or report.kept) else 0


if __name__ == "__main__":
    sys.exit(main())
