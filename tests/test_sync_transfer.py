"""A sync run's towers as the start of localization and separation (issue 6, transfer).

A tiny, randomly initialised ``multisensory_small`` (BatchNorm statistics perturbed so they
count) is saved as a sync run's ``weights.pt``; the localizer and the separator's visual encoder
must load its towers and compute exactly its tower features.
"""

import pytest
import torch

from avlearn.models import create_model, list_models
from avlearn.models.av.separation_visual import SyncTowerEncoder
from avlearn.models.av.sync_towers import (
    TowerWeightsError,
    densify,
    load_towers,
    sync_video_tower,
)
from avlearn.tasks.localization import LocalizationConfig, LocalizationTask
from avlearn.tasks.separation.sop import SoPConfig, SoPModel, build_sop


@pytest.fixture(scope="module")
def sync_net():
    torch.manual_seed(0)
    net = create_model("multisensory_small")
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0.0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture()
def sync_weights(sync_net, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(sync_net.state_dict(), path)
    return path


def test_dense_tower_equals_the_strided_one_on_its_grid(sync_net):
    dense = sync_video_tower(dense=True)
    dense.load_state_dict(sync_net.video_tower.state_dict())
    x = torch.rand(2, 3, 6, 32, 32)
    with torch.no_grad():
        strided, fine = sync_net.video_tower(x), dense.eval()(x)  # (2, 16, 6, 4, 4), (2, 16, 6, 8, 8)
    assert strided.shape == (2, 16, 6, 4, 4) and fine.shape == (2, 16, 6, 8, 8)
    torch.testing.assert_close(fine[..., ::2, ::2], strided, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="no spatial stride"):
        densify(dense)


def test_localizer_starts_from_the_sync_towers(sync_net, sync_weights):
    assert "attention_loc_sync_small" in list_models("attention_loc*")
    net = create_model("attention_loc_sync_small", weights=str(sync_weights), strict=False).eval()
    video, audio = torch.rand(2, 3, 8, 64, 64), torch.rand(2, 1, 8000) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(net.video_tower(video)[..., ::2, ::2], sync_net.video_tower(video), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(net.audio_tower.forward_features(audio), sync_net.audio_tower.forward_features(audio))
        heat = net.heatmaps(video, audio)
    assert net.embed_video(video).shape == (2, 32, 8, 16, 16) and net.embed_audio(audio).shape == (2, 32)
    assert heat.shape == (2, 8, 64, 64) and 0 <= heat.min() and heat.max() <= 1
    random = create_model("attention_loc_sync_small").eval()  # the baseline: no weights
    assert not torch.equal(random.video_tower.stem[0].weight, net.video_tower.stem[0].weight)


def test_resized_input_maps_land_on_the_frames():
    net = create_model("attention_loc_sync_small", input_size=(32, 32)).eval()
    video = torch.rand(1, 3, 4, 64, 64)
    assert net._resize(video).shape == (1, 3, 4, 32, 32) and net.embed_video(video).shape == (1, 32, 4, 8, 8)
    cell = torch.zeros(1, 1, 8, 8)
    cell[0, 0, 2, 5] = 1.0  # centred on pixel (8, 20) of the 32x32 input: (16.5, 40.5) of the 64x64 frame
    up = net.upsample(cell, (64, 64))[0, 0]
    y, x = divmod(int(up.argmax()), 64)
    assert (y, x) in {(16, 40), (17, 41), (16, 41), (17, 40)} and up[16:18, 40:42].min() > 0.8


def test_load_reports_loaded_and_skipped_keys(sync_net, sync_weights):
    net = create_model("attention_loc_sync_small")
    report = load_towers(net, sync_weights, net.pretrained)
    towers = [k for k in net.state_dict() if k.startswith(("video_tower.", "audio_tower."))]
    assert report["loaded"] == sorted(towers)
    assert {k.split(".")[0] for k in report["skipped"]} == {"audio_proj", "fusion", "stages", "head"}
    assert len(report["loaded"]) + len(report["skipped"]) == len(sync_net.state_dict())


def test_a_trained_localizer_round_trips_strictly(sync_weights, tmp_path):
    net = create_model("attention_loc_sync_small", weights=str(sync_weights), strict=False)
    torch.save(net.state_dict(), tmp_path / "loc.pt")
    again = create_model("attention_loc_sync_small", weights=str(tmp_path / "loc.pt"))
    assert torch.equal(again.video_embed.weight, net.video_embed.weight)


def test_wrong_files_give_typed_errors(sync_weights, tmp_path):
    other = tmp_path / "attention.pt"
    torch.save(create_model("attention_loc_small").state_dict(), other)
    with pytest.raises(TowerWeightsError, match=r"attention\.pt: not a multisensory_small sync run's video_tower"):
        create_model("attention_loc_sync_small", weights=str(other), strict=False)
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(TowerWeightsError, match=r"notes\.txt: not a torch weights file"):
        SyncTowerEncoder().load_sync_weights(text)
    big = tmp_path / "paper.pt"  # the paper-sized sync net: same names, other shapes
    torch.save({k: v for k, v in create_model("multisensory").state_dict().items() if k.startswith("video_tower.")}, big)
    with pytest.raises(TowerWeightsError, match=r"paper\.pt: video_tower\.stem\.0\.weight has shape"):
        SyncTowerEncoder().load_sync_weights(big)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        SyncTowerEncoder().load_sync_weights(tmp_path / "missing.pt")


def _sop_cfg(model: SoPModel):
    class Data:
        visual = "frames"

    class Cfg:
        task, data = SoPConfig(n_fft=128, hop=64), Data()

    Cfg.model = model
    return Cfg


def test_separator_visual_encoder_starts_from_the_sync_tower(sync_net, sync_weights):
    tiny = dict(unet_levels=3, unet_channels=4, sound_channels=4)
    task = build_sop(_sop_cfg(SoPModel(kwargs={**tiny, "visual": "sync_tower"}, visual_weights=str(sync_weights)))).eval()
    enc = task.net.visual
    assert isinstance(enc, SyncTowerEncoder)
    frames = torch.rand(3, 3, 6, 32, 32)  # (sources, 3, F, H, W)
    with torch.no_grad():
        torch.testing.assert_close(enc.tower(frames)[..., ::2, ::2], sync_net.video_tower(frames), atol=1e-5, rtol=1e-5)
        feats = enc(frames)
        maps = enc.frame_maps(frames)
    assert feats.shape == (3, 4) and maps.shape == (3, 6, 4, 8, 8)
    torch.testing.assert_close(feats, maps.amax(dim=(1, 3, 4)))
    log_mag, valid = torch.rand(1, 1, 64, 9), torch.tensor([[True, True, False]])
    regions = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]])
    with torch.no_grad():
        out = task.net(log_mag, frames[None], valid, regions)  # pixel-level pooling inside boxes
    assert out.shape == (1, 3, 64, 9)
    random = build_sop(_sop_cfg(SoPModel(kwargs={**tiny, "visual": "sync_tower"})))
    assert not torch.equal(random.net.visual.tower.stem[0].weight, enc.tower.stem[0].weight)


def test_visual_weights_need_the_sync_tower(sync_weights):
    from avlearn.train.config import ConfigError

    with pytest.raises(ConfigError, match="model.visual_weights: needs model.kwargs.visual: sync_tower"):
        build_sop(_sop_cfg(SoPModel(kwargs=dict(unet_levels=3, unet_channels=4, sound_channels=4),
                                    visual_weights=str(sync_weights))))


def test_pretrained_localizer_trains_one_step(sync_weights):
    net = create_model("attention_loc_sync_small", weights=str(sync_weights), strict=False)
    task = LocalizationTask(net, LocalizationConfig()).train()
    loss = task({"video": torch.rand(3, 3, 4, 64, 64), "audio": torch.rand(3, 1, 4000) * 2 - 1})["loss"]
    loss.backward()
    assert torch.isfinite(loss) and net.video_tower.stem[0].weight.grad.abs().sum() > 0
    assert net.audio_tower.conv1.weight.grad.abs().sum() > 0


def test_recipes_validate():
    from avlearn.train.config import load_config

    loc = load_config("avlearn/recipes/localize_attention_sync.yaml")
    assert loc.model.name == "attention_loc_sync_small" and loc.model.strict is False and loc.data.fps == 16
    sep = load_config("avlearn/recipes/separate_instruments_sync.yaml")
    assert sep.model.kwargs["visual"] == "sync_tower" and sep.data.size == 32 and sep.data.num_frames >= 32
