"""``flickr-soundnet`` and ``vggss``: sound-source localization test sets with boxes.

Flickr-SoundNet (Senocak et al., CVPR 2018): one XML file per test sample, named by the sample
id (``<id>.xml`` in ``Annotations/`` or ``anno/``), Pascal-VOC-like: ``<bbox>`` elements
holding ``<xmin> <ymin> <xmax> <ymax>`` in pixels of the 256 x 256 annotated frame (a leading
non-coordinate child, as in the published files, is ignored; a ``<size><width><height>``
element, when present, replaces 256). Several annotators' boxes are kept together.

VGG-SS (Chen et al., CVPR 2021): ``vggss.json``, a list of ``{"file": "<ytid>_<start>", "bbox":
[[x0, y0, x1, y1], ...], "class": ...}`` with coordinates as fractions of the frame.

Both write ``boxes``: ``[[x0, y0, x1, y1], ...]`` as fractions of the frame's width and height
(multiply by W, H for pixels), split ``test``. Media: a video or an audio file named by the id
(``{ytid}_{start:06d}.mp4`` for VGG-SS); a still image with the same name is recorded as
``image`` (relative to the manifest's folder) for the frame-plus-audio releases.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer

__all__ = ["prepare_flickr_soundnet", "prepare_vggss", "read_flickr_xml"]

FLICKR_FRAME = 256
_COORDS = ("xmin", "ymin", "xmax", "ymax")


def read_flickr_xml(path: Path) -> list[list[float]]:
    """The boxes of one Flickr-SoundNet XML file, as fractions of the frame.

    Raises:
        PrepareError: not XML, or a ``bbox`` without four coordinates.
    """
    try:
        tree = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise PrepareError(path, f"not XML ({exc})") from None
    width = height = FLICKR_FRAME
    size = tree.find(".//size")
    if size is not None and size.findtext("width") and size.findtext("height"):
        width, height = float(size.findtext("width")), float(size.findtext("height"))
    boxes = []
    for bbox in tree.iter("bbox"):
        named = {c.tag: c.text for c in bbox if c.tag in _COORDS}
        try:
            coords = [float(named[k]) for k in _COORDS] if len(named) == 4 else [float(c.text) for c in list(bbox)[-4:]]
        except (TypeError, ValueError):
            coords = []
        if len(coords) != 4:
            raise PrepareError(path, "a <bbox> without four coordinates xmin ymin xmax ymax")
        boxes.append([coords[0] / width, coords[1] / height, coords[2] / width, coords[3] / height])
    return boxes


@register_preparer("flickr-soundnet", "Flickr-SoundNet test set: <id>.xml boxes (256 px frame); media <id>.*")
def prepare_flickr_soundnet(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of every ``*.xml`` under ``annotations``."""
    files = annotation_files(annotations, "*.xml", required="Flickr-SoundNet <id>.xml annotation")
    return [Entry(id=p.stem, split="test", stems=(p.stem,), extra={"boxes": read_flickr_xml(p)}) for p in files]


_VGGSS_ID = re.compile(r"^(?P<yt>[A-Za-z0-9_-]{11})_(?P<start>\d+)$")


@register_preparer("vggss", "VGG-SS vggss.json ([{file, bbox (fractions), class}]); media {ytid}_{start:06d}.*")
def prepare_vggss(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of ``vggss.json``."""
    files = annotation_files(annotations, "vggss*.json", required="vggss.json")
    entries = []
    for path in files:
        try:
            items = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise PrepareError(path, f"invalid JSON ({exc.msg})", exc.lineno) from None
        if not isinstance(items, list):
            raise PrepareError(path, "expected a list of {file, bbox} objects")
        for i, item in enumerate(items):
            try:
                name, boxes = str(item["file"]), [[float(v) for v in b] for b in item["bbox"]]
            except (KeyError, TypeError, ValueError):
                raise PrepareError(path, f"item {i}: expected {{\"file\": id, \"bbox\": [[x0, y0, x1, y1], ...]}}") from None
            if any(len(b) != 4 for b in boxes):
                raise PrepareError(path, f"item {i} ({name}): a box without four coordinates")
            m = _VGGSS_ID.match(name)
            label = item.get("class")
            entries.append(Entry(id=name, split="test", labels=[label] if label else [], stems=(name,),
                                 youtube=m["yt"] if m else None,
                                 segment=(float(m["start"]), float(m["start"]) + 10.0) if m else None,
                                 extra={"boxes": boxes}))
    return entries
