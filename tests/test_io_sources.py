"""read_clip and probe accept the bytes of a file or a binary file object as well as a path."""

from __future__ import annotations

import io

import pytest
import torch
from media import write_clip, write_garbage

from avlearn.io import CorruptMediaError, probe, read_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("src") / "a.mp4", seconds=1.0, fps=8, clicks=(0.5,))


def test_bytes_and_file_object_read_like_the_path(clip):
    ref = read_clip(clip.path, 0.25, 0.5, fps=8, sample_rate=16000)
    data = open(clip.path, "rb").read()
    from_bytes = read_clip(data, 0.25, 0.5, fps=8, sample_rate=16000)
    with open(clip.path, "rb") as fh:
        from_file = read_clip(fh, 0.25, 0.5, fps=8, sample_rate=16000)
        assert not fh.closed  # the caller's file stays open
    from_buffer = read_clip(io.BytesIO(data), 0.25, 0.5, fps=8, sample_rate=16000)
    for got in (from_bytes, from_file, from_buffer):
        assert torch.equal(got.video, ref.video)
        assert torch.equal(got.audio, ref.audio)
    assert from_bytes.path == "<bytes>" and from_file.path == clip.path
    assert probe(data).duration == pytest.approx(probe(clip.path).duration)
    assert probe(io.BytesIO(data)).video.width == 32


def test_bad_bytes_raise_typed_errors(tmp_path):
    with pytest.raises(CorruptMediaError, match="<bytes>: empty"):
        read_clip(b"", 0.0, 0.5)
    junk = open(write_garbage(tmp_path / "junk.mp4"), "rb").read()
    with pytest.raises(CorruptMediaError, match="<bytes>: not a readable media container"):
        probe(junk)
    with open(tmp_path / "junk.mp4", "rb") as fh, pytest.raises(CorruptMediaError, match="junk.mp4"):
        read_clip(fh, 0.0, 0.5)
    with pytest.raises(TypeError, match="path, bytes or a binary file object"):
        probe(12)
