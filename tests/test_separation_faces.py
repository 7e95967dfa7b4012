"""``avlearn separate`` on a real two-face clip: MTCNN face tracks give exactly two voices, one per face.

The clip is built as in tests/test_models_face.py: carphone (a real talking head, 176x144)
beside its mirror image, with two real read-speech recordings (LibriVox) mixed under it.
"""

import json

import numpy as np
import pytest
import torch
from test_separation_train import CASES, _config

from avlearn.data.synthetic import WorldConfig, make_world
from avlearn.io import probe, read_clip
from avlearn.io.stream import StreamReader
from avlearn.io.writer import AVWriter

SPEECH = ("sense_and_sensibility_01_austen_64kb-0870.wav", "sense_and_sensibility_01_austen_64kb-0880.wav")


@pytest.mark.realmedia
def test_separate_finds_one_voice_per_real_face(realmedia_file, tmp_path, capsys):
    from avlearn.cli import main
    from avlearn.train import fit

    video = realmedia_file("carphone_pristine.mp4")
    weights = realmedia_file("pnet.pt").parent
    for name in ("rnet.pt", "onet.pt"):
        realmedia_file(name)
    speech = [realmedia_file(f"librivox/{name}") for name in SPEECH]
    torch.set_num_threads(1)
    clip = tmp_path / "two_faces.mp4"
    voices = [read_clip(p, 0.0, 4.0, video=False, sample_rate=16000, mono=True).audio for p in speech]
    with AVWriter(clip, fps=10, sample_rate=16000, channels=1) as w:
        for win in StreamReader(video, 1.0, fps=10, audio=False, last="shorten"):
            frames = win.video.numpy()
            w.write_video(np.concatenate([frames, frames[:, :, ::-1]], axis=2))  # (T, 144, 352, 3)
        w.write_audio(0.5 * (voices[0] + voices[1]))  # (1, 64000)

    world = tmp_path / "speakers"  # a voice model trained for a few steps: the test is about the sources
    make_world(world, WorldConfig(kind="speakers", size=32, duration=1.0, solo=True, max_objects=1),
               clips={"train": 4, "val": 1, "test": 1}, seed=0, workers=1, progress=False)
    _, task_cfg, data = CASES["visualvoice"][:3]
    run = tmp_path / "run"
    fit(_config(world, task_cfg, data, run, steps=2))

    out = tmp_path / "sep"
    assert main(["separate", str(clip), "--weights", str(run / "weights.pt"), "--out", str(out), "--window", "2",
                 "--face-weights", str(weights), "--json"]) == 0  # voice model, no truth file: faces by default
    report = json.loads(capsys.readouterr().out)
    assert report["detector"] == "face" and len(report["sources"]) == 2, report
    left, right = sorted(report["sources"], key=lambda s: s["box"][0])
    assert left["box"][2] < 176 < right["box"][0]  # one per half
    for s in (left, right):
        x1, y1, x2, y2 = s["box"]
        assert 30 <= x2 - x1 <= 90 and 30 <= y2 - y1 <= 100  # face-sized (the head is ~50 px)
        assert s["span"][1] - s["span"][0] >= 3.0
        info = probe(s["wav"])
        assert info.audio.sample_rate == 16000 and info.audio.channels == 1
        v = probe(s["video"]).video
        assert (v.width, v.height) == (352, 144)
    mirrored = [352 - right["box"][2], right["box"][1], 352 - right["box"][0], right["box"][3]]
    np.testing.assert_allclose(left["box"], mirrored, atol=8)  # the mirror face's box is the mirror box

    assert main(["separate", str(clip), "--weights", str(run / "weights.pt"), "--out", str(tmp_path / "x"),
                 "--face-weights", str(tmp_path)]) == 1  # no weights there: a clear error naming the option
    assert "--face-weights" in capsys.readouterr().err
