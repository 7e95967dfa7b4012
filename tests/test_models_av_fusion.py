"""Audio-visual fusion for recognition: MBT bottlenecks (Eq. 8-9), TBN temporal binding, late fusion."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model
from avlearn.models.av.tbn import binding_offsets


def _av(batch=2, t=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"video": torch.randn(batch, 3, t, 32, 32, generator=g), "audio": torch.randn(batch, 1, 8000, generator=g)}


def test_mbt_modalities_exchange_only_through_the_bottlenecks():
    torch.manual_seed(0)
    model = create_model("mbt_tiny", num_classes=3).eval()
    seen = []
    for i, blk in enumerate(model.streams["video"].blocks):
        blk.register_forward_hook(lambda m, inp, out, i=i: seen.append((i, inp[0].shape[1])))
    x = _av()
    with torch.no_grad():
        model(x)
    n_video = 1 + 4 * 4 * 4  # [CLS] + 4 frames of 4x4 patches
    assert seen == [(0, n_video), (1, n_video), (2, n_video + 4), (3, n_video + 4)]  # L_f = 2, B = 4
    # the video [CLS] hears the audio (through the bottlenecks) ...
    x2 = dict(x, audio=torch.randn(2, 1, 8000))
    with torch.no_grad():
        f1, f2 = model.forward_features(x), model.forward_features(x2)
    d = 64
    assert not torch.allclose(f1[:, :d], f2[:, :d], atol=1e-5)
    # ... and does not without fusion layers (fusion_layer = depth: separate streams, averaged logits)
    late = create_model("mbt_tiny", num_classes=3, fusion_layer=4).eval()
    assert late.bottleneck is None
    with torch.no_grad():
        g1, g2 = late.forward_features(x), late.forward_features(x2)
    torch.testing.assert_close(g1[:, :d], g2[:, :d])
    assert not torch.allclose(g1[:, d:], g2[:, d:], atol=1e-5)


def test_mbt_logits_are_the_mean_of_the_modality_classifiers():
    torch.manual_seed(0)
    model = create_model("mbt_tiny", num_classes=3).eval()
    x = _av()
    with torch.no_grad():
        feats = model.forward_features(x)
        v, a = feats.chunk(2, dim=-1)
        expected = (model.streams["video"].fc(v) + model.streams["audio"].fc(a)) / 2
        torch.testing.assert_close(model(x), expected)


@pytest.mark.parametrize("name", ["mbt_tiny", "tbn_tiny"])
@pytest.mark.parametrize("modality", ["video", "audio"])
def test_unimodal_variants_read_only_their_input(name, modality):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, modalities=(modality,)).eval()
    x = {modality: _av(t=6)[modality]}
    with torch.no_grad():
        assert model(x).shape == (2, 3)
    with pytest.raises(ValueError, match="modalities"):
        create_model(name, modalities=("video", "smell"))


def test_binding_offsets_hand_cases():
    assert binding_offsets(12, 2, 3, 1, random=False).tolist() == [[1, 5, 9]]  # centred in [0,4), [4,8), [8,12)
    g = torch.Generator().manual_seed(0)
    r = binding_offsets(12, 2, 3, 500, random=True, generator=g)
    seg_start = torch.tensor([0, 4, 8])
    assert ((r - seg_start) >= 0).all() and ((r - seg_start) <= 2).all()  # the window stays in its segment
    assert len(torch.unique(r[:, 0])) == 3  # every admissible offset is drawn
    with pytest.raises(ValueError, match="binding window"):
        binding_offsets(12, 5, 3, 1, random=False)


def test_tbn_binds_a_frame_and_an_audio_window_per_segment():
    model = create_model("tbn_tiny", num_classes=3)
    video = torch.arange(6.0).view(1, 1, 6, 1, 1).expand(2, 3, 6, 32, 32)  # frame t has value t
    audio = torch.arange(8000.0).view(1, 1, 8000).expand(2, 1, 8000)  # sample n has value n
    model.train()
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        b = model.bind({"video": video, "audio": audio}, generator=g)
        frames = b["image"][:, 0, 0, 0].view(2, 3)  # (B, S) frame index used per segment
        assert ((frames >= torch.tensor([0, 2, 4])) & (frames < torch.tensor([2, 4, 6]))).all()
        starts = b["audio"][:, 0, 0].view(2, 3)
        assert b["audio"].shape[-1] == 1333  # half of the 2666-sample segment
        assert ((starts >= torch.tensor([0, 2666, 5332])) & (starts + 1333 <= torch.tensor([2666, 5332, 7998]))).all()
        seen.add(tuple(frames[0].tolist()))
    assert len(seen) > 1  # frames are drawn at random inside the windows in training
    model.eval()
    b = model.bind({"video": video, "audio": audio})
    assert b["image"][:, 0, 0, 0].view(2, 3).tolist() == [[0, 2, 4]] * 2  # centre ((2 - 1) // 2 = 0) at evaluation
    assert b["audio"][:, 0, 0].view(2, 3).tolist() == [[666, 3332, 5998]] * 2


def test_tbn_eval_reads_only_the_bound_frames_and_averages_segments():
    torch.manual_seed(0)
    model = create_model("tbn_tiny", num_classes=3).eval()
    x = _av(t=6)
    x2 = dict(x, video=x["video"].clone())
    x2["video"][:, :, [1, 3, 5]] = 0  # frames outside the evaluation binding points
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x2))
        feats = model.forward_features(x)  # (B, S, F)
        assert feats.shape == (2, 3, 128)
        per_segment = model.nets["fused"].forward_head(feats)  # (B, S, K)
        torch.testing.assert_close(model.forward_head(feats), per_segment.mean(1))


def test_late_fusion_averages_the_unimodal_networks():
    torch.manual_seed(0)
    model = create_model("av_late_fusion_tiny", num_classes=3).eval()
    assert set(model.nets) == {"video", "audio"} and model.nets["video"].modalities == ("image",)
    x = _av(t=6)
    with torch.no_grad():
        inputs = model.bind(x)
        v = model.nets["video"](inputs).view(2, 3, 3).mean(1)
        a = model.nets["audio"](inputs).view(2, 3, 3).mean(1)
        torch.testing.assert_close(model(x), (v + a) / 2)
    with pytest.raises(ValueError, match="fusion"):
        create_model("tbn_tiny", fusion="early")
