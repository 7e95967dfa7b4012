"""``ucf101`` and ``hmdb51``: the action datasets' published three-fold split files.

UCF101 (Soomro et al., CRCV-TR-12-01, 2012), ``ucfTrainTestlist/``: ``classInd.txt`` (``1
ApplyEyeMakeup``), ``trainlist0N.txt`` (``ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1``),
``testlist0N.txt`` (``ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi``). Rows carry ``class_index``, the 0-based
official index from ``classInd.txt`` when it is found. Media: the ``.avi`` (or any re-encoding
with the same name) anywhere under ROOT.

HMDB51 (Kuehne et al., ICCV 2011), ``testTrainMulti_7030_splits/``: one file per class and fold,
``<class>_test_split<N>.txt``, each line ``<video>.avi <k>`` with k = 1 (train), 2 (test) or 0
(not used in this fold; counted as ``skipped``). Media: ``<class>/<video>.avi`` or anywhere.

``fold`` (1-3) picks the split files; the manifests are ``train`` and ``test``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer

__all__ = ["prepare_ucf101", "prepare_hmdb51"]


def _fold(fold: int | None) -> int:
    fold = 1 if fold is None else int(fold)
    if fold not in (1, 2, 3):
        raise ValueError(f"fold must be 1, 2 or 3, got {fold}")
    return fold


@register_preparer("ucf101", "UCF101 classInd.txt + trainlist0N/testlist0N.txt (--fold N)")
def prepare_ucf101(root: Path, annotations: Path, *, fold: int | None = None, **_: object) -> list[Entry]:
    """Entries of UCF101 fold ``fold`` (train and test)."""
    fold = _fold(fold)
    index = {}
    for path in annotation_files(annotations.parent if annotations.is_file() else annotations, "classInd.txt"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            cols = line.split()
            if cols:
                if len(cols) != 2 or not cols[0].isdigit():
                    raise PrepareError(path, f"expected '<index> <Class>', got {line.strip()!r}", n)
                index[cols[1]] = int(cols[0]) - 1
    entries = []
    for split in ("train", "test"):
        files = annotation_files(annotations, f"{split}list0{fold}.txt", required=f"{split}list0{fold}.txt (UCF101 ucfTrainTestlist)")
        for n, line in enumerate(files[0].read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            rel = PurePosixPath(line.split()[0].replace("\\", "/"))
            if len(rel.parts) < 2:
                raise PrepareError(files[0], f"expected <Class>/<video>.avi, got {line.strip()!r}", n)
            extra = {"class_index": index[rel.parts[0]]} if rel.parts[0] in index else {}
            entries.append(Entry(id=rel.stem, split=split, labels=[rel.parts[0]],
                                 relative=(str(rel.with_suffix("")),), stems=(rel.stem,), extra=extra))
    return entries


_HMDB = re.compile(r"^(?P<cls>.+)_test_split(?P<fold>[123])\.txt$")


@register_preparer("hmdb51", "HMDB51 <class>_test_split<N>.txt (1 train, 2 test, 0 unused; --fold N)")
def prepare_hmdb51(root: Path, annotations: Path, *, fold: int | None = None, **_: object) -> list[Entry]:
    """Entries of HMDB51 fold ``fold``: train (1) and test (2); 0 entries are skipped."""
    fold = _fold(fold)
    files = annotation_files(annotations, f"*_test_split{fold}.txt", keep=lambda p: bool(_HMDB.match(p.name)),
                             required=f"<class>_test_split{fold}.txt (HMDB51 testTrainMulti_7030_splits)")
    entries = []
    for path in files:
        cls = _HMDB.match(path.name)["cls"]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise PrepareError(path, f"expected '<video>.avi <0|1|2>', got {line.strip()!r}", n)
            stem = PurePosixPath(parts[0]).stem
            split = {"1": "train", "2": "test", "0": "unused"}[parts[1]]
            entries.append(Entry(id=stem, split=split, labels=[cls], relative=(f"{cls}/{stem}",), stems=(stem,),
                                 skip=parts[1] == "0"))
    return entries
