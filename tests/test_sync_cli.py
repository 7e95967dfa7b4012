"""``avlearn sync``: --help, plain and --json output on a tiny file, errors."""

import json
import os

import numpy as np
import pytest
import yaml

from avlearn.cli import main
from avlearn.io import write_av
from media import tiny_sync_run


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("sync_cli")
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(32, 32, 32, 3), dtype=np.uint8)  # 2 s at 16 fps
    audio = (rng.standard_normal((1, 32000)) * 0.1).astype(np.float32)  # 2 s at 16 kHz
    media = write_av(d / "tiny.mp4", video, audio, fps=16, sample_rate=16000)
    weights = tiny_sync_run(d)
    return media, weights


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sync", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--max-offset" in out and "--json" in out and "late" in out


def test_json_output(tiny, capsys):
    media, weights = tiny
    assert main(["sync", media, "--weights", weights, "--max-offset", "0.25", "--hop", "0.5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert set(res) >= {"file", "offset", "confidence", "scores"}
    assert abs(res["offset"]) <= 0.25 + 1 / 16 and res["confidence"] >= 0
    assert len(res["scores"]) == 9  # -0.25..0.25 every frame (1/16 s)


def test_plain_output_and_errors(tiny, capsys, tmp_path):
    media, weights = tiny
    assert main(["sync", media, "--weights", weights, "--max-offset", "0.125", "--hop", "0.5"]) == 0
    assert "confidence" in capsys.readouterr().out
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["sync", str(bad), "--weights", weights]) == 1
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["sync", media, "--weights", str(tmp_path / "none.pt")]) == 2


def test_eval_list_json(tiny, capsys):
    media, weights = tiny
    lists = os.path.join(os.path.dirname(media), "lists")
    os.makedirs(lists, exist_ok=True)
    path = os.path.join(lists, "sync_test.jsonl")
    with open(path, "w") as fh:
        for offset in (0.0, 0.25, -0.5):
            fh.write(json.dumps({"clip": os.path.basename(media), "start": 0.5, "offset": offset}) + "\n")
    assert main(["sync", "--eval-list", path, "--weights", weights, "--max-offset", "0.5", "--hop", "0.5", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["count"] == 3 and res["shifted"]["count"] == 2 and res["skipped"] == 0
    assert [r["offset"] for r in res["rows"]] == [0.0, 0.25, -0.5]
    assert all(abs(r["error"] - (r["estimate"] - r["offset"])) < 1e-9 for r in res["rows"])


def test_long_files_are_read_in_chunks_with_the_same_result(tiny):
    from avlearn import load_run

    from avlearn.tasks.sync.inference import estimate_offset

    media, weights = tiny
    model = load_run(weights).network
    opts = dict(window=0.5, hop=0.25, fps=16, size=(32, 32), sample_rate=16000)
    whole = estimate_offset(model, media, 0.25, **opts, chunk=30.0)
    pieces = estimate_offset(model, media, 0.25, **opts, chunk=0.5)  # 3 reads of the 2 s file
    assert whole[0] == pytest.approx(pieces[0]) and whole[1] == pytest.approx(pieces[1])
    assert all(a == pytest.approx(b, abs=1e-5) for a, b in zip(whole[2].values(), pieces[2].values()))


def test_window_option_scores_files_shorter_than_the_trained_window(tiny, capsys, tmp_path):
    media, weights = tiny  # a 2 s file
    long_run = tmp_path / "long"
    long_run.mkdir()
    (long_run / "weights.pt").write_bytes(open(weights, "rb").read())
    cfg = {"task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
           "data": {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 4.0}}
    (long_run / "config.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["sync", media, "--weights", str(long_run / "weights.pt")]) == 1
    err = capsys.readouterr().err
    assert "shorter than the 4.0 s sync window" in err and "--window" in err
    assert main(["sync", media, "--weights", str(long_run / "weights.pt"), "--window", "1.0", "--max-offset", "0.25",
                 "--hop", "0.5", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["scores"]) == 9
    with pytest.raises(SystemExit) as info:  # refused where it is parsed
        main(["sync", media, "--weights", str(long_run / "weights.pt"), "--window", "0"])
    assert info.value.code == 2 and "--window: must be > 0" in capsys.readouterr().err
