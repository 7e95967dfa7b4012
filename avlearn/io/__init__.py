"""Media I/O with PyAV: probe files, read sample-exact audio-video clips, write media.

    >>> from avlearn.io import read_clip
    >>> clip = read_clip("a.mp4", start=3.0, duration=1.0, fps=8, size=(112, 112), sample_rate=16000)
    >>> clip.video.shape, clip.audio.shape   # (8, 112, 112, 3), (C, 16000)
    >>> for win in StreamReader("long.mp4", 1.0, fps=8, size=(112, 112), sample_rate=16000):
    ...     ...                                 # AVClip windows, the file decoded once
"""

from avlearn.io.errors import (
    ClipOutOfRangeError,
    CorruptMediaError,
    DecodeError,
    EncodeError,
    MediaError,
    MissingStreamError,
)
from avlearn.io.types import AVClip, MediaInfo, StreamInfo
from avlearn.io.write import write_audio, write_av
from avlearn.io.writer import AVWriter

__all__ = [
    "AVClip",
    "MediaInfo",
    "StreamInfo",
    "MediaError",
    "CorruptMediaError",
    "DecodeError",
    "MissingStreamError",
    "ClipOutOfRangeError",
    "EncodeError",
    "write_av",
    "write_audio",
    "AVWriter",
    "StreamReader",
    "stream_windows",
    "probe",
    "read_clip",
    "read_audio",
]

try:  # the readers land in their own modules
    from avlearn.io.probe import probe  # noqa: F401
    from avlearn.io.read import read_audio, read_clip  # noqa: F401
    from avlearn.io.stream import StreamReader, stream_windows  # noqa: F401
except ModuleNotFoundError as _exc:  # pragma: no cover - only while the reader is being built
    if not (_exc.name or "").startswith("avlearn.io."):
        raise
