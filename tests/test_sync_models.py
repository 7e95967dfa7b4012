"""The sync networks: CAM = logit before pooling, fusion shapes, tower transfer, two-tower scores."""

import pytest
import torch

from avlearn.models import create_model
from avlearn.models._registry import example_input


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return create_model("multisensory_small").eval()


def test_cam_mean_is_the_logit(small):
    x = example_input("multisensory_small", 2)
    cam = small.cam(x["video"], x["audio"])
    assert cam.shape == (2, 8, 2, 2)  # 8 frames kept, 32x32 -> 2x2
    with torch.no_grad():
        logit = small(x)[:, 0]
    assert torch.allclose(cam.mean(dim=(1, 2, 3)), logit, atol=1e-5)


def test_audio_is_fused_and_matters(small):
    x = example_input("multisensory_small", 2)
    with torch.no_grad():
        a = small(x)
        b = small({"video": x["video"], "audio": x["audio"].flip(-1)})
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="audio too short"):
        small({"video": x["video"], "audio": x["audio"][..., :500]})
    with pytest.raises(ValueError, match="needs an 'audio' input"):
        small(x["video"])


def test_video_tower_transfers_to_the_video_only_net(small, tmp_path):
    torch.save(small.state_dict(), tmp_path / "weights.pt")  # what a sync run exports
    tower = create_model("multisensory_small_video", num_classes=5, weights=tmp_path / "weights.pt", strict=False)
    for k, v in tower.state_dict().items():
        if not k.startswith("classifier."):
            assert torch.equal(v, small.state_dict()[k]), k
    assert tower(torch.randn(2, 3, 8, 32, 32)).shape == (2, 5)
    probe = create_model("multisensory_small_video", num_classes=5, frozen=True).train()
    assert [n for n, p in probe.named_parameters() if p.requires_grad] == ["classifier.weight", "classifier.bias"]
    assert not probe.video_tower.training and probe.classifier.training


def test_paper_network_shapes():
    m = create_model("multisensory").eval()
    x = example_input("multisensory", 1)
    feats = create_model("multisensory", features_only=True).eval()(x)
    assert [f.shape[1] for f in feats] == [64, 128, 128, 256, 512]
    assert feats[0].shape[2] == 2  # 8 frames / 4 in time, as the paper's stride-2 stem + stride-2 block
    with torch.no_grad():
        assert m(x).shape == (1, 1)


def test_two_tower_embeddings_and_score():
    torch.manual_seed(0)
    m = create_model("avts_small").eval()
    x = example_input("avts_small", 3)
    with torch.no_grad():
        v, a = m.embed(x)
        assert torch.allclose(v.norm(dim=1), torch.ones(3), atol=1e-5)
        assert torch.allclose(m.sync_score(x), -(v - a).norm(dim=1), atol=1e-5)
        assert m(x).shape == (3, 1)


@pytest.mark.parametrize("name", ["multisensory_small", "avts_small"])
def test_score_audio_windows_matches_pairwise_scores(name):
    torch.manual_seed(0)
    m = create_model(name).eval()
    x = example_input(name, 3)
    video = x["video"][:1]
    with torch.no_grad():
        fast = m.score_audio_windows(video, x["audio"])
        slow = m.sync_score({"video": video.expand(3, -1, -1, -1, -1), "audio": x["audio"]})
    assert torch.allclose(fast, slow, atol=1e-5)
