"""Many files at once for the inference commands: inputs, per-file outputs, device, skip-and-count.

Every inference command (``sync``, ``localize``, ``separate``, ``classify``,
``extract-features``) takes its positional inputs through :func:`expand_inputs`: media files
as given, folders searched recursively for media files (:func:`avlearn.io.scan.iter_media`),
and manifests (``.csv``, ``.jsonl``, ``.json``: :func:`avlearn.data.manifest.load_manifest`),
whose rows' files are taken in order. The files are processed one by one with
:func:`run_each`: a file that cannot be read is skipped with a one-line reason on stderr, a
final count line follows, and the exit status is non-zero only when no file could be processed.
With ``--json`` each file gives one JSON object on stdout (JSON Lines) with ``"path"``,
``"ok"`` and, for a skipped file, ``"error"``.

Outputs follow one rule (:func:`output_paths`): with one input file, ``--out`` is that file's
output; with several inputs (several paths, a folder or a manifest), ``--out`` is a folder and
each input writes ``<out>/<stem>.<ext>``, a stem seen twice getting ``_2``, ``_3``... so two
``clip.mp4`` in different folders never overwrite each other.

``--device {auto,cpu,cuda,cuda:N}`` (:func:`add_device_option`) is validated where it is parsed
(a GPU that is not there is a one-line usage error, exit status 2) and resolved with
:func:`avlearn.models.device.resolve_device`; on a GPU the per-file work runs under
:func:`avlearn.models.device.autocast` (bfloat16 / float16 mixed precision, Micikevicius et
al., "Mixed Precision Training", ICLR 2018).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from avlearn.cli import _args as A
from avlearn.errors import DataError, UsageError

__all__ = [
    "MANIFEST_SUFFIXES",
    "add_device_option",
    "add_inputs",
    "add_run_options",
    "free",
    "write_record",
    "device_option",
    "expand_inputs",
    "many_inputs",
    "output_paths",
    "check_out",
    "resolve",
    "accepted",
    "run_each",
    "Skip",
]

#: Input files read as manifests (lists of media files), not as media.
MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json")

#: Errors that make one input file unusable: it is skipped, the others go on.
_FILE_ERRORS: tuple[type[BaseException], ...] = (DataError, OSError, ValueError, RuntimeError)


class Skip(DataError):
    """Raised by a command's per-file work to skip a file with a reason (e.g. its output exists)."""


def device_option(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (a CUDA device this machine has)."""
    name = text.strip().lower()
    return "auto" if name == "auto" else A.device(text)


device_option.__name__ = "device"


def add_device_option(p: argparse.ArgumentParser, *, default: str = "auto") -> None:
    """Add ``--device`` to a command's parser."""
    p.add_argument("--device", type=device_option, default=default,
                   help="auto, cpu, cuda or cuda:N (default auto: the GPU when there is one; "
                   "mixed precision on the GPU)")  # fmt: skip


def add_inputs(p: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """Add the positional inputs (files, folders, manifests) as ``args.inputs``."""
    p.add_argument("inputs", nargs="*" if optional else "+", metavar="FILE",
                   help="media files with video and audio, folders (searched recursively) or manifests "
                   "(.csv, .jsonl, .json)")  # fmt: skip


def add_run_options(p: argparse.ArgumentParser, *, batch: str = "windows", batch_default: int | None = None) -> None:
    """Add ``--batch-size``, ``--device`` and ``--json`` (JSON Lines) to an inference command."""
    default = f"default {batch_default}" if batch_default is not None else "default: the task's"
    p.add_argument("--batch-size", type=A.positive_int(maximum=4096), default=batch_default,
                   help=f"{batch} per forward pass ({default})")  # fmt: skip
    add_device_option(p)
    p.add_argument("--json", action="store_true", help="print one JSON object per file (JSON Lines)")


def free(target: str | None, *, many: bool, overwrite: bool) -> None:
    """Skip the file whose per-file output ``target`` (in an output folder) exists, unless ``overwrite``."""
    if target is not None and many and os.path.exists(target) and not overwrite:
        raise Skip(f"{target} already exists (pass --overwrite to replace it)")


def write_record(target: str | None, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` as JSON to ``target`` (when given); the record with ``"out"`` added."""
    if target is None:
        return record
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        json.dump(record, fh)
    return {**record, "out": target}


def resolve(spec: str):
    """The ``torch.device`` of a ``--device`` value (:func:`avlearn.models.device.resolve_device`).

    Raises:
        UsageError: a device this machine does not have (exit status 2).
    """
    from avlearn.models.device import DeviceError, resolve_device

    try:
        return resolve_device(spec)
    except DeviceError as exc:
        raise UsageError(f"--device: {exc}") from None


def _is_manifest(path: str) -> bool:
    return os.path.isfile(path) and path.lower().endswith(MANIFEST_SUFFIXES)


def many_inputs(items: list[str]) -> bool:
    """Whether the inputs name several files (several paths, a folder or a manifest)."""
    return len(items) > 1 or any(os.path.isdir(i) or _is_manifest(i) for i in items)


def expand_inputs(items: list[str]) -> list[str]:
    """The media files named by ``items``, in order, each once.

    A folder gives its media files (recursively, sorted); a ``.csv`` / ``.jsonl`` / ``.json``
    file is a manifest and gives its rows' files; anything else is taken as a media file as it
    is (a missing or unreadable one is skipped later, with its reason).

    Raises:
        UsageError: a manifest that cannot be read (the message names its file and line).
        DataError: the inputs name no file at all (e.g. folders without media).
    """
    from avlearn.data.manifest import ManifestError, load_manifest
    from avlearn.io.scan import iter_media

    out: list[str] = []
    for item in items:
        item = os.fspath(item)
        if os.path.isdir(item):
            out.extend(iter_media(item))
        elif _is_manifest(item):
            try:
                out.extend(row.path for row in load_manifest(item))
            except ManifestError as exc:
                raise UsageError(str(exc)) from None
        else:
            out.append(item)
    seen: set[str] = set()
    files = [f for f in out if not (f in seen or seen.add(f))]
    if not files:
        raise DataError(f"no media files in {', '.join(items) or 'the inputs'}")
    return files


def output_paths(files: list[str], out: str | None, ext: str, *, many: bool) -> list[str | None]:
    """Where each input's output goes: ``out`` itself for one input, ``<out>/<stem><ext>`` for
    several (a stem seen twice gets ``_2``, ``_3``...). ``ext`` may be "" (a folder per input)."""
    if out is None:
        return [None] * len(files)
    if not many:
        return [out]
    used: dict[str, int] = {}
    paths = []
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0] or "input"
        n = used.get(stem.lower(), 0) + 1
        used[stem.lower()] = n
        paths.append(os.path.join(out, (stem if n == 1 else f"{stem}_{n}") + ext))
    return paths


def check_out(args: argparse.Namespace, attr: str, *, folder: bool) -> None:
    """Check the output option ``attr`` as a file or a folder (:func:`avlearn.cli._args.check_outputs`)."""
    probe = argparse.Namespace(**{k: getattr(args, k, None) for k in ("inputs", "overwrite") if hasattr(args, k)})
    setattr(probe, attr, getattr(args, attr))
    probe.input_args = ("inputs",)
    probe.output_args, probe.output_dir_args = ((), (attr,)) if folder else ((attr,), ())
    A.check_outputs(probe)


def accepted(fn: Callable, **options: Any) -> dict[str, Any]:
    """The ``options`` that ``fn`` takes as keywords (``device``, ``batch_size``...): a command
    passes what it has, the task function takes what it supports."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return dict(options)
    return {k: v for k, v in options.items() if k in params}


@contextlib.contextmanager
def _precision(device) -> Iterator[None]:
    if device is None:
        yield
        return
    from avlearn.models.device import autocast

    with autocast(device):
        yield


def _reason(exc: BaseException, path: str) -> str:
    reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and not getattr(exc, "reason", None):
        from avlearn.errors import describe_os_error

        reason = describe_os_error(exc)
    reason = " ".join(str(reason).split())
    return reason[len(path) + 2:] if reason.startswith(f"{path}: ") else reason


def run_each(
    name: str,
    files: list[str],
    work: Callable[[str, int], dict[str, Any]],
    *,
    json_lines: bool,
    text: Callable[[dict[str, Any]], None] | None = None,
    device=None,
) -> int:
    """Run ``work(path, i)`` on every file; skip and count the ones that fail.

    Args:
        name: the command, for messages (``"avlearn sync"``).
        files: the inputs (:func:`expand_inputs`).
        work: returns the file's JSON-able record; raises a data error (``DataError``,
            ``OSError``, ``ValueError``...) to have the file skipped.
        json_lines: print each record as one JSON line (``path``, ``ok``, ``error``).
        text: prints a record for people (without ``--json``).
        device: work runs under mixed precision there (None: as is).

    Returns:
        the exit status: 0 when at least one file was processed, 1 otherwise.
    """
    done = 0
    for i, path in enumerate(files):
        try:
            with _precision(device):
                record = work(path, i)
        except UsageError:
            raise
        except _FILE_ERRORS as exc:
            reason = _reason(exc, path)
            print(f"{name}: skipped {path}: {reason}", file=sys.stderr)
            if json_lines:
                print(json.dumps({"path": path, "ok": False, "error": reason}), flush=True)
            continue
        done += 1
        if json_lines:
            print(json.dumps({"path": path, "ok": True, **record}), flush=True)
        elif text is not None:
            text(record)
    if len(files) > 1 or done < len(files):
        print(f"{name}: {done} of {len(files)} file(s) processed, {len(files) - done} skipped", file=sys.stderr)
    return 0 if done else 1
