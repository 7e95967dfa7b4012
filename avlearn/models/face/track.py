"""Faces of a whole video file: MTCNN detections (Zhang et al., IEEE SPL 2016) on frames streamed
at a low rate, tracked across frames into one track per person (SORT-style association,
Bewley et al., ICIP 2016; :mod:`avlearn.data.tracks`).

The file is decoded once, window by window (:class:`avlearn.io.stream.StreamReader`), at
``fps`` frames per second and at most ``max_side`` pixels on the long side (swscale does the
downscaling; faces are large enough for MTCNN long before 1080p), and the boxes are scaled back to
the input's pixels. Memory is bounded by one window of frames.
"""

from __future__ import annotations

import os

import numpy as np

from avlearn.data.tracks import BoxTracker, Track
from avlearn.io import MissingStreamError, probe
from avlearn.io.stream import StreamReader
from avlearn.models.face.mtcnn import MTCNN

__all__ = ["track_faces"]


def track_faces(
    path: str | os.PathLike,
    detector: MTCNN,
    *,
    fps: float = 5.0,
    max_side: int | None = 640,
    start: float = 0.0,
    end: float | None = None,
    window: float = 2.0,
    tracker: BoxTracker | None = None,
) -> list[Track]:
    """Detect and track the faces of a video file.

    Args:
        path: the video.
        detector: an MTCNN with its weights (:func:`avlearn.models.face.mtcnn`).
        fps: detection rate (frames per second sampled by presentation time).
        max_side: frames are downscaled so that their long side is at most this (None: native).
        start, end: the span to scan, in seconds.
        window: seconds of frames decoded and detected per batch.
        tracker: a configured :class:`BoxTracker` (default: ``BoxTracker(max_missed=round(fps))``,
            a face may vanish for about a second).

    Returns:
        The tracks, each with per-detection boxes ``[x1, y1, x2, y2]`` in the input's pixels,
        times on the file's clock, the median box (:attr:`Track.box`) and span.

    Raises:
        avlearn.io.MediaError: unreadable file or no video stream.
    """
    info = probe(path)
    if info.video is None or not info.video.width:
        raise MissingStreamError(os.fspath(path), "no video stream")
    width, height = info.video.width, info.video.height
    scale = 1.0
    if max_side and max(width, height) > max_side:
        scale = max_side / max(width, height)
    size = (max(2, round(height * scale)), max(2, round(width * scale)))
    back = np.array([width / size[1], height / size[0]] * 2)  # (4,) model pixels -> input pixels
    tracker = tracker or BoxTracker(max_missed=max(1, round(fps)))
    reader = StreamReader(path, window, start=start, end=end, fps=fps, size=size, audio=False, last="shorten")
    for clip in reader:
        frames = clip.video.numpy()  # (T, h, w, 3)
        for i, faces in enumerate(detector.detect(frames)):
            tracker.update(faces.boxes * back, clip.start + i / fps, faces.scores)
    return tracker.tracks()
