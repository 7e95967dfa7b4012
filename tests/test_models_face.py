"""MTCNN face detector: net shapes, weight loading errors, cascade pieces; real faces tracked."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avlearn.data.tracks import BoxTracker
from avlearn.io.stream import StreamReader
from avlearn.io.writer import AVWriter
from avlearn.models.face import MTCNN, ONet, PNet, RNet, load_mtcnn_weights, mtcnn, track_faces
from avlearn.models.face.mtcnn import _nms_min, _square


def test_net_shapes():
    reg, prob = PNet()(torch.rand(2, 3, 12, 12))
    assert reg.shape == (2, 4, 1, 1) and prob.shape == (2, 2, 1, 1)
    assert torch.allclose(prob.sum(1), torch.ones(2, 1, 1))
    reg, prob = PNet()(torch.rand(1, 3, 40, 60))
    assert reg.shape == (1, 4, 15, 25)  # one cell per 2 px
    reg, prob = RNet()(torch.rand(3, 3, 24, 24))
    assert reg.shape == (3, 4) and prob.shape == (3, 2)
    reg, marks, prob = ONet()(torch.rand(3, 3, 48, 48))
    assert reg.shape == (3, 4) and marks.shape == (3, 10) and prob.shape == (3, 2)


def test_weight_loading_errors(tmp_path):
    nets = {"pnet": PNet(), "rnet": RNet(), "onet": ONet()}
    with pytest.raises(FileNotFoundError, match="pnet.pt: MTCNN weights not found"):
        load_mtcnn_weights(nets, tmp_path)
    torch.save(RNet().state_dict(), tmp_path / "pnet.pt")  # the wrong net's weights
    with pytest.raises(ValueError, match="pnet.pt: not the MTCNN pnet weights"):
        load_mtcnn_weights(nets, tmp_path)
    for name, net in nets.items():  # the right keys round-trip
        torch.save(net.state_dict(), tmp_path / f"{name}.pt")
    model = mtcnn(tmp_path, min_face=40)
    assert torch.equal(model.onet.dense6_3.weight, nets["onet"].dense6_3.weight)


def test_cascade_pieces():
    sq = _square(torch.tensor([[0.0, 0.0, 10.0, 20.0]]))
    assert torch.allclose(sq, torch.tensor([[-5.0, 0.0, 15.0, 20.0]]))
    boxes = torch.tensor([[0.0, 0, 100, 100], [10, 10, 40, 40], [200, 0, 260, 60], [10, 10, 40, 40]])
    keep = _nms_min(boxes, torch.tensor([0.9, 0.8, 0.7, 0.95]), torch.tensor([0, 0, 0, 1]), 0.7)
    assert keep.tolist() == [3, 0, 2]  # the nested box of image 0 goes; image 1's stays
    det = MTCNN(min_face=20)
    assert det.scales(144, 352)[0] == pytest.approx(0.6) and 144 * det.scales(144, 352)[-1] >= 12
    with pytest.raises(ValueError, match="min_face"):
        MTCNN(min_face=5)
    out = det.detect(np.zeros((2, 64, 64, 3), np.uint8))  # random weights, blank frames: runs, shapes right
    assert len(out) == 2 and out[0].boxes.shape[1:] == (4,) and out[0].landmarks.shape[1:] == (5, 2)


@pytest.mark.realmedia
def test_two_real_faces_give_two_tracks(realmedia_file):
    """carphone (a real talking head) beside its mirror image: exactly two tracks, one per face."""
    video = realmedia_file("carphone_pristine.mp4")
    weights = realmedia_file("pnet.pt").parent
    for name in ("rnet.pt", "onet.pt"):
        realmedia_file(name)
    torch.set_num_threads(1)
    detector = mtcnn(weights)
    tracker = BoxTracker(max_missed=3)
    width = None
    for clip in StreamReader(video, 1.0, fps=4, audio=False):
        frames = clip.video.numpy()  # (4, 144, 176, 3)
        both = np.concatenate([frames, frames[:, :, ::-1]], axis=2)  # (4, 144, 352, 3)
        width = both.shape[2]
        for i, faces in enumerate(detector.detect(both)):
            tracker.update(faces.boxes, clip.start + i / 4, faces.scores)
    tracks = tracker.tracks()
    assert len(tracks) == 2, [t.to_dict() for t in tracks]
    left, right = sorted(tracks, key=lambda t: t.box[0])
    assert left.box[2] < width / 2 < right.box[0]  # each box inside its half
    for tr in (left, right):
        x1, y1, x2, y2 = tr.box
        assert 30 <= x2 - x1 <= 90 and 30 <= y2 - y1 <= 100  # a face-sized box (the head is ~50 px)
        assert len(tr.frames) >= 14 and tr.span[1] - tr.span[0] >= 3.0  # detected almost throughout
    mirrored = [width - right.box[2], right.box[1], width - right.box[0], right.box[3]]
    np.testing.assert_allclose(left.box, mirrored, atol=6)  # the mirror face's box is the mirror box


@pytest.mark.realmedia
def test_track_faces_of_a_file_in_input_pixels(realmedia_file, tmp_path):
    """The two-face clip written at twice the size and scanned at half: boxes come back in input pixels."""
    video = realmedia_file("carphone_pristine.mp4")
    for name in ("pnet.pt", "rnet.pt", "onet.pt"):
        weights = realmedia_file(name).parent
    torch.set_num_threads(1)
    out = tmp_path / "two_faces.mp4"
    with AVWriter(out, fps=10) as w:
        for clip in StreamReader(video, 1.0, fps=10, size=(288, 352), audio=False, last="shorten"):
            frames = clip.video.numpy()
            w.write_video(np.concatenate([frames, frames[:, :, ::-1]], axis=2))  # (T, 288, 704, 3)
    tracks = track_faces(out, mtcnn(weights), fps=3, max_side=352)
    assert len(tracks) == 2, [t.to_dict() for t in tracks]
    left, right = sorted(tracks, key=lambda t: t.box[0])
    assert left.box[2] < 352 < right.box[0]
    assert 60 <= left.box[2] - left.box[0] <= 180  # twice the ~50 px head of the 176x144 original
    assert right.span[1] - right.span[0] >= 3.0
