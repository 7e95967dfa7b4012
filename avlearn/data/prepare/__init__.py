"""``avlearn prepare``: manifests from the published annotation files of audio-visual datasets.

    >>> from avlearn.data.prepare import prepare, list_preparers
    >>> report = prepare("kinetics", "downloads/kinetics400", "data/k400")
    >>> report["splits"]["train"]   # {"entries": ..., "found": ..., "missing": ..., "unreadable": ...}

One module per dataset family registers its preparer (the explicit imports below fill the
registry); :func:`prepare` finds the media under the download folder in one pass, probes it and
writes one manifest per official split, ``report.json`` and ``missing.txt``. The formats and
file names each family expects are in the modules' docstrings and in docs/datasets.md.
"""

from avlearn.data.prepare import audioset, ave, boxes, folder, kinetics, music, speech, temporal, ucf_hmdb, vggsound  # noqa: F401
from avlearn.data.prepare._core import (
    Entry,
    PrepareError,
    annotation_files,
    get_preparer,
    list_preparers,
    prepare,
    register_preparer,
    segment_rows,
)
from avlearn.data.prepare._index import Match, MediaIndex

__all__ = [
    "Entry",
    "Match",
    "MediaIndex",
    "PrepareError",
    "annotation_files",
    "get_preparer",
    "list_preparers",
    "prepare",
    "register_preparer",
    "segment_rows",
]
