"""Sound-source localization: heatmap shapes, scoring against boxes end to end, training, recipes."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from avlearn.data import collate
from avlearn.io import write_av
from avlearn.metrics import boxes_to_mask, ciou, ciou_auc, pointing_game
from avlearn.models import create_model
from avlearn.models.av.attention_loc import AttentionLocNet
from avlearn.tasks.localization import (
    LocalizationConfig,
    LocalizationTask,
    Localizer,
    cam_heatmaps,
    correspondence_bce,
    correspondence_nce,
)
from avlearn.tasks.localization.data import (
    FrozenFrameDataset,
    frame_indices,
    load_localization_list,
)
from avlearn.metrics import binarize_area, oracle_heatmap
from avlearn.tasks.localization.evaluate import (
    score_sums,
    summarize_scores,
)

TINY = dict(embed_dim=16, video_widths=(8, 16, 16, 16), audio_widths=(8, 16, 16), n_mels=24)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: far faster than two on a machine shared by several jobs."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_attention_heatmaps_are_one_per_frame_at_input_resolution():
    net = create_model("attention_loc_small", **TINY).eval()
    video, audio = torch.rand(2, 3, 5, 32, 48), torch.randn(2, 1, 8000) * 0.1
    heat = net.heatmaps(video, audio)
    assert heat.shape == (2, 5, 32, 48) and heat.min() >= 0 and heat.max() <= 1
    assert net.embed_video(video).shape == (2, 16, 5, 32 // net.reduction, 48 // net.reduction)
    scores = net.pair_scores(net.embed_video(video), net.embed_audio(audio))
    assert scores.shape == (2, 2)
    assert torch.allclose(torch.diagonal(scores), net({"video": video, "audio": audio})[:, 0], atol=1e-5)


def test_attention_map_cells_land_on_the_pixels_they_see():
    net = AttentionLocNet()  # reduction 4: map cell (5, 7) is centred on input pixel (20, 28)
    cell = torch.zeros(1, 1, 16, 16)
    cell[0, 0, 5, 7] = 1.0
    up = net.upsample(cell, (64, 64))[0, 0]
    assert up.shape == (64, 64) and divmod(int(up.argmax()), 64) == (20, 28) and float(up.max()) == pytest.approx(1.0)


@pytest.mark.parametrize("refine", ["none", "guided"])
def test_flip_tta_maps_are_mirror_equivariant(refine):
    torch.manual_seed(0)
    net = create_model("attention_loc_small", **TINY).eval()  # reduction 4: cells 4 px apart
    video, audio = torch.rand(2, 3, 4, 32, 32), torch.randn(2, 1, 8000) * 0.1
    plain = LocalizationTask(net, LocalizationConfig(refine=refine)).eval()
    tta = LocalizationTask(net, LocalizationConfig(refine=refine, tta_flip=True)).eval()
    with torch.no_grad():
        h, hf = tta.heatmaps(video, audio), tta.heatmaps(video.flip(-1), audio)
        p, pf = plain.heatmaps(video, audio), plain.heatmaps(video.flip(-1), audio)
    assert torch.allclose(hf, h.flip(-1), atol=1e-5)  # mirrored back at frame resolution, not per cell
    assert not torch.allclose(pf, p.flip(-1), atol=1e-3)  # the network alone is not mirror-symmetric
    if refine == "none":  # the average of the two logit maps, then the sigmoid
        logit = lambda x: torch.logit(x.clamp(1e-6, 1 - 1e-6))
        assert torch.allclose(h, torch.sigmoid(0.5 * (logit(p) + logit(pf).flip(-1))), atol=1e-4)
    batch = {"video": video, "audio": audio, "target": torch.tensor([1, 2])}
    with torch.no_grad():
        out = tta(batch)
    assert torch.allclose(out["heatmaps"], h, atol=1e-5)  # evaluation batches get the same maps


def test_cam_heatmaps_are_one_per_frame_at_input_resolution():
    torch.manual_seed(0)
    net = create_model("multisensory_small").eval()
    video, audio = torch.rand(2, 3, 8, 32, 32), torch.randn(2, 1, 8000) * 0.1
    heat = cam_heatmaps(net, video, audio)
    assert heat.shape == (2, 8, 32, 32)
    cam = net.cam(video, audio)  # (2, 8, 2, 2): the mean of the CAM is the logit
    assert torch.allclose(cam.mean(dim=(1, 2, 3)), net({"video": video, "audio": audio})[:, 0], atol=1e-5)
    big = cam_heatmaps(net, torch.rand(1, 3, 8, 64, 64), audio[:1], size=(32, 32))  # network sees 32x32
    assert big.shape == (1, 8, 64, 64)
    with pytest.raises(TypeError, match="cam"):
        cam_heatmaps(nn.Linear(2, 2), video, audio)


def test_localizer_covers_every_frame_of_a_clip():
    task = LocalizationTask(create_model("attention_loc_small", **TINY))
    loc = Localizer(task, fps=4, size=(32, 32), sample_rate=8000, clip_duration=1.0)
    video = torch.randint(0, 255, (3, 11, 32, 32), dtype=torch.uint8)  # 2.75 s: windows at 0, 4 and 7
    heat = loc.localize(video, torch.randn(1, 22000) * 0.1)
    assert heat.shape == (11, 32, 32) and heat.min() >= 0 and heat.max() <= 1
    assert loc.localize(video[:, :2], torch.randn(1, 4000)).shape == (2, 32, 32)  # shorter than a window


def test_correspondence_losses_on_hand_made_scores():
    good = torch.tensor([[5.0, -5.0], [-5.0, 5.0]])
    assert float(correspondence_bce(good)) < 0.01 and float(correspondence_nce(good)) < 0.01
    assert float(correspondence_bce(-good)) > 4.9 and float(correspondence_nce(-good)) > 9.9
    # bce: half the weight on the 2 positives, half on the 2 negatives
    s = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
    assert float(correspondence_bce(s)) == pytest.approx(np.log(2))


def test_frame_indices_hit_the_row_frame_exactly():
    idx, target = frame_indices(1.5625, (1.0625, 2.0625), fps=4, source_fps=16, num_frames=64)
    assert idx[target] == 25 and len(idx) == 4 and np.all(np.diff(idx) == 4)
    idx, target = frame_indices(0.0, (0.0, 1.0), fps=4, source_fps=16, num_frames=64)
    assert target == 0 and idx == [0, 4, 8, 12]


def test_area_rule_oracle_and_sums_match_the_metrics():
    gt = torch.zeros(3, 16, 16, dtype=torch.bool)
    gt[0, 2:6, 3:9] = True
    gt[1, 8:16, 0:4] = True
    gt[2, 5:7, 5:7] = True
    oracle = oracle_heatmap(gt)
    assert torch.equal(binarize_area(oracle, gt), gt)  # a perfect map keeps exactly G
    g = gt.flatten(1).float().mean(1)
    c_or = ciou(oracle, gt)  # the median rule's ceiling is 2 |G| / |image| (ties at the median cost a little)
    assert torch.all(c_or <= 2 * g + 1e-6) and torch.all(c_or >= 0.85 * 2 * g)
    heat = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(1))
    batch = {"gt_mask": gt, "index": torch.arange(3)}
    sums_a = score_sums(heat[:2], {"gt_mask": gt[:2], "index": torch.arange(2)}, methods=("model",))
    sums_b = score_sums(heat[2:], {"gt_mask": gt[2:], "index": torch.arange(2, 3)}, methods=("model",))
    m = summarize_scores({k: sums_a[k] + sums_b[k] for k in sums_a})
    c = ciou(heat, gt)
    assert m["mean_ciou"] == pytest.approx(float(c.mean()))
    assert m["auc"] == pytest.approx(ciou_auc(c))
    assert m["ciou50"] == pytest.approx(float((c >= 0.5).float().mean()))
    assert m["pointing"] == pytest.approx(float(pointing_game(heat, gt).float().mean()))
    assert summarize_scores(score_sums(heat, batch))["whole_image.mean_ciou"] == pytest.approx(float(g.mean()))


# ----------------------------------------------------------------------------- end to end


class BrightSpot(nn.Module):
    """A hand-made "network" whose CAM is 1 on bright pixels (> 0.5) and 0 elsewhere."""

    def cam(self, video, audio, class_index=0):
        return (video.mean(1) > 0.5).float()  # (B, T, H, W)


def _box(xy):
    return [xy[0], xy[1], xy[0] + 16, xy[1] + 16]


def _square_clip(path, bright, dim, seconds=2.0, fps=16, size=64):
    """Dark frames with a bright 16x16 square at ``bright`` and a grey one at ``dim`` (x0, y0)."""
    video = np.full((int(seconds * fps), size, size, 3), 20, np.uint8)
    video[:, bright[1] : bright[1] + 16, bright[0] : bright[0] + 16] = 240
    video[:, dim[1] : dim[1] + 16, dim[0] : dim[0] + 16] = 100
    audio = (np.random.default_rng(0).standard_normal((1, int(seconds * 16000))) * 0.05).astype(np.float32)
    return write_av(path, video, audio, fps=fps, sample_rate=16000)


@pytest.fixture(scope="module")
def handmade_list(tmp_path_factory):
    root = tmp_path_factory.mktemp("loc_world")
    (root / "clips").mkdir()
    (root / "truth").mkdir()
    (root / "lists").mkdir()
    rows = []
    # clip a: the sounding object is bright; clip b: the silent one is bright (the map points at it)
    for name, sounding, silent, bright in (("a", (8, 8), (40, 40), (8, 8)), ("b", (8, 40), (40, 8), (40, 8))):
        dim = silent if bright == sounding else sounding
        _square_clip(root / "clips" / f"{name}.mp4", bright, dim)
        (root / "truth" / f"{name}.json").write_text(json.dumps({"fps": 16, "size": [64, 64]}))
        rows.append({"id": name, "clip": f"clips/{name}.mp4", "truth": f"truth/{name}.json", "frame": 20, "time": 1.25,
                     "window": [0.75, 1.75], "boxes": [_box(sounding)], "silent_boxes": [_box(silent)], "distractors": True})
    path = root / "lists" / "localization_test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_hand_made_map_is_scored_end_to_end(handmade_list):
    rows = load_localization_list(handmade_list)
    ds = FrozenFrameDataset(rows, fps=4, size=(64, 64), sample_rate=16000)
    s = ds[0]
    assert s["video"].shape == (3, 4, 64, 64) and s["audio"].shape == (1, 16000) and s["target"] == 2
    assert torch.equal(s["gt_mask"], boxes_to_mask(np.array([[8, 8, 24, 24]]), (64, 64)))
    task = LocalizationTask(BrightSpot(), LocalizationConfig(method="cam")).eval()
    batch = collate([ds[0], ds[1]])
    out = task(batch)
    assert out["heatmaps"].shape == (2, 4, 64, 64) and out["heatmap"].shape == (2, 64, 64)
    m = task.summarize(task.metric_sums(out, batch))
    g = 256 / 4096
    # row a: the map is the sounding box -> area rule cIoU 1, pointing hit; the median rule keeps
    # every pixel of a two-valued map covering less than half the image -> cIoU = |G| / |image|
    # row b: the map is the silent box -> area cIoU 0, pointing at the silent object
    assert m["area_ciou50"] == pytest.approx(0.5) and m["area_mean_ciou"] == pytest.approx(0.5)
    assert m["area_auc"] == pytest.approx(0.05 * (1.0 + 0.5) / 2 + 19 * 0.05 * 0.5)  # fraction 1 at t=0, then 0.5
    assert m["mean_ciou"] == pytest.approx(g) and m["ciou50"] == 0.0
    assert m["pointing"] == pytest.approx(0.5) and m["points_at_silent"] == pytest.approx(0.5)
    assert m["whole_image.mean_ciou"] == pytest.approx(g) and m["whole_image.pointing"] == 0.0
    assert m["oracle.area_ciou50"] == 1.0 and m["oracle.mean_ciou"] == pytest.approx(2 * g, rel=0.01)
    assert 0.0 <= m["random.area_mean_ciou"] < 0.2 and "centre_prior.auc" in m


def test_tiny_attention_model_trains():
    """Coloured squares that sound their colour: the correspondence loss goes down."""
    rng = np.random.default_rng(0)
    tones = (300.0, 700.0, 1500.0, 3000.0)
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)

    def clip(k):
        video = torch.full((3, 2, 32, 32), 0.1)
        y, x = rng.integers(0, 20, size=2)
        video[:, :, y : y + 12, x : x + 12] = torch.from_numpy(colours[k])[:, None, None, None]
        t = np.arange(4000) / 8000
        return {"video": video, "audio": torch.from_numpy(0.3 * np.sin(2 * np.pi * tones[k] * t).astype(np.float32))[None]}

    torch.manual_seed(0)
    task = LocalizationTask(AttentionLocNet(sample_rate=8000, **TINY), LocalizationConfig(objective="bce"))
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        batch = collate([clip(k) for k in rng.permutation(4)])
        loss = task(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.6 * np.mean(losses[:5])


def test_recipes_validate():
    from avlearn.train.config import load_config

    att = load_config("avlearn/recipes/localize_attention.yaml")
    assert att.task.method == "attention" and att.model.name == "attention_loc_small"
    cam = load_config("avlearn/recipes/localize_cam.yaml")
    assert cam.task.method == "cam" and cam.task.cam_size == [32, 32]


def test_cam_task_refuses_to_train():
    task = LocalizationTask(BrightSpot(), LocalizationConfig(method="cam")).train()
    with pytest.raises(RuntimeError, match="sync task"):
        task({"video": torch.rand(1, 3, 2, 8, 8), "audio": torch.zeros(1, 1, 100)})


@pytest.mark.slow
def test_demo_stage_quick(tmp_path):
    from avlearn.demo import run_demo

    summary = run_demo(tmp_path, quick=True, stages=["localization"], progress=False)
    stage = summary["stages"]["localization"]
    assert stage["error"] is None
    assert {"attention_area_ciou50", "attention_pointing", "whole_image_area_ciou50"} <= set(stage["metrics"])
    html = (tmp_path / "report.html").read_text()
    assert "Sound-source localization" in html and "centre prior (baseline)" in html
