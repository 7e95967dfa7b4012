"""IMGAUD2VID and IMGAUD-SKIMMING (avlearn.models.av.preview, avlearn.tasks.preview):
distillation loss values on hand-made logits, the skimming selection mechanics (indices inside
the video, distinct, gradients through the soft selection), and losses that decrease."""

from __future__ import annotations

import math

import pytest
import torch

from avlearn.models.av.preview import ImageAudioNet, SkimmingNet
from avlearn.tasks.preview.task import ImgAud2VidTask, distillation_loss
from avlearn.tasks.preview.skimming import BankDataset, SkimmingTask, collate_banks

# ----------------------------------------------------------------------------- distillation


def test_distillation_loss_hand_made_values():
    teacher = torch.tensor([[0.0, 0.0]])  # uniform at any temperature
    student = torch.tensor([[math.log(3.0), 0.0]])  # (0.75, 0.25) at T = 1
    y = torch.tensor([0])
    kl1 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    loss, parts = distillation_loss(student, teacher, y, temperature=1.0, alpha=1.0)
    assert parts["kl"].item() == pytest.approx(kl1, abs=1e-6)
    assert loss.item() == pytest.approx(kl1, abs=1e-6)
    # T = 2: student softened to (sqrt 3, 1) / (sqrt 3 + 1); the KL term is scaled by T^2 = 4
    ps = math.sqrt(3.0) / (math.sqrt(3.0) + 1.0)
    kl2 = 0.5 * math.log(0.5 / ps) + 0.5 * math.log(0.5 / (1.0 - ps))
    ce = -math.log(0.75)
    loss, parts = distillation_loss(student, teacher, y, temperature=2.0, alpha=0.25)
    assert parts["kl"].item() == pytest.approx(kl2, abs=1e-6)
    assert parts["ce"].item() == pytest.approx(ce, abs=1e-6)
    assert loss.item() == pytest.approx(0.25 * 4 * kl2 + 0.75 * ce, abs=1e-6)


def test_distillation_loss_zero_kl_when_student_copies_teacher_and_argument_checks():
    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    y = torch.arange(5) % 4
    loss, parts = distillation_loss(z, z.clone(), y, temperature=3.0, alpha=0.5)
    assert parts["kl"].item() == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(0.5 * torch.nn.functional.cross_entropy(z, y).item(), abs=1e-6)
    with pytest.raises(ValueError, match="labels"):
        distillation_loss(z, z, None, alpha=0.5)
    with pytest.raises(ValueError, match="alpha"):
        distillation_loss(z, z, y, alpha=1.5)


# ----------------------------------------------------------------------------- skimming


def _net(selection: str = "gumbel", steps: int = 3, **kw) -> SkimmingNet:
    torch.manual_seed(0)
    return SkimmingNet(num_classes=3, image_dim=6, audio_dim=5, feature_dim=8, hidden=16, key_dim=4, steps=steps,
                       selection=selection, **kw)


def _banks(B: int = 4, T: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, 6, generator=g), torch.randn(B, T, 5, generator=g)


@pytest.mark.parametrize("selection", ["gumbel", "soft"])
@pytest.mark.parametrize("training", [True, False])
def test_chosen_indices_lie_inside_each_video_and_are_distinct(selection, training):
    net = _net(selection, steps=3).train(training)
    img, aud = _banks(B=3, T=6)
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2, [1] * 3 + [0] * 3], dtype=torch.bool)
    out = net(img, aud, mask)
    idx = out["indices"]
    assert idx.shape == (3, 3) and out["logits"].shape == (3, 3) and out["step_logits"].shape == (3, 3, 3)
    for row, n in zip(idx.tolist(), (6, 4, 3)):
        assert all(0 <= i < n for i in row) and len(set(row)) == 3
    att = out["attention"]  # (B, S, T): a distribution over the allowed steps only
    assert torch.allclose(att.sum(-1), torch.ones(3, 3), atol=1e-5)
    assert att[1, :, 4:].abs().max() == 0 and att[2, :, 3:].abs().max() == 0
    w = out["modality"]
    assert w.shape == (3, 3, 2) and torch.allclose(w.sum(-1), torch.ones(3, 3), atol=1e-6)


def test_more_steps_than_moments_repeats_instead_of_failing():
    net = _net(steps=5).eval()
    img, aud = _banks(B=2, T=3)
    out = net(img, aud)
    assert torch.isfinite(out["logits"]).all()
    assert all(len(set(r[:3])) == 3 and all(0 <= i < 3 for i in r) for r in out["indices"].tolist())


def test_eval_selection_is_the_argmax_and_the_prediction_comes_from_the_chosen_moments():
    net = _net(steps=2).eval()
    img, aud = _banks(B=2, T=5)
    out = net(img, aud)
    assert torch.equal(out["indices"][:, 0], out["attention"][:, 0].argmax(1))
    # the logits are the classifier on the mean fused feature of the chosen moments
    feats = []
    for b in range(2):
        sel = out["indices"][b]
        f = net.fusion(torch.cat([img[b, sel], aud[b, sel]], dim=1)).mean(0)  # (F,)
        feats.append(net.fc(f))
    assert torch.allclose(torch.stack(feats), out["logits"], atol=1e-5)


@pytest.mark.parametrize("selection", ["gumbel", "soft"])
def test_gradient_flows_through_the_soft_selection(selection):
    net = _net(selection, steps=2).train()
    img, aud = _banks()
    img.requires_grad_(True)
    out = net(img, aud)
    torch.nn.functional.cross_entropy(out["logits"], torch.tensor([0, 1, 2, 0])).backward()
    for name in ("query_image.0.weight", "query_audio.0.weight", "key_image.weight", "key_audio.weight", "modality.0.weight"):
        grad = dict(net.named_parameters())[name].grad
        assert grad is not None and grad.abs().sum() > 0, f"no gradient reaches {name} through the selection"
        assert torch.isfinite(grad).all()
    assert torch.isfinite(img.grad).all()


def test_skimming_task_loss_decreases_on_learnable_banks():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    B, T = 24, 8
    labels = torch.arange(B) % 3
    img, aud = torch.randn(B, T, 6, generator=g) * 0.1, torch.randn(B, T, 5, generator=g) * 0.1
    where = torch.randint(0, T, (B,), generator=g)
    img[torch.arange(B), where, labels] += 3.0  # the label is visible at one moment only
    aud[torch.arange(B), where, 4] += 3.0  # ... and the audio says where that moment is
    ds = BankDataset([(img[i], aud[i]) for i in range(B)], labels.tolist())
    batch = collate_banks([ds[i] for i in range(B)])
    task = SkimmingTask(net=_net("gumbel", steps=2))
    opt = torch.optim.Adam(task.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        loss = task(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-10:]) < 0.6 * losses[0], f"{losses[0]:.3f} -> {min(losses[-10:]):.3f}"
    task.eval()
    with torch.no_grad():
        sums = task.metric_sums(task(batch), batch)
    metrics = task.summarize(sums)
    assert 0.0 <= metrics["image_weight"] <= 1.0 and metrics["distinct_moments"] == 2.0


def test_collate_banks_pads_and_masks():
    a = {"image_bank": torch.ones(3, 2), "audio_bank": torch.ones(3, 4), "label": 1}
    b = {"image_bank": torch.ones(5, 2), "audio_bank": torch.ones(5, 4), "label": 0}
    batch = collate_banks([a, None, b])
    assert batch["image_bank"].shape == (2, 5, 2) and batch["skipped"] == 1
    assert batch["mask"].tolist() == [[True] * 3 + [False] * 2, [True] * 5]
    assert batch["audio_bank"][0, 3:].abs().sum() == 0


# ----------------------------------------------------------------------------- student


def test_student_modalities_and_distillation_task_loss_decreases():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="modalities"):
        ImageAudioNet(num_classes=3, modalities=("video",))
    g = torch.Generator().manual_seed(0)
    B = 8
    image, audio = torch.randn(B, 3, 32, 32, generator=g), torch.randn(B, 1, 4000, generator=g) * 0.1
    for mods in (("image",), ("audio",)):
        m = ImageAudioNet(num_classes=3, modalities=mods, sample_rate=8000)
        assert m({"image": image, "audio": audio}).shape == (B, 3)
        assert (m.image_net is None) == ("image" not in mods) and (m.audio_net is None) == ("audio" not in mods)
    labels = torch.arange(B) % 3
    image = image + labels[:, None, None, None].float()  # separable batch
    teacher = torch.nn.functional.one_hot(labels, 3).float() * 4.0
    task = ImgAud2VidTask(model=ImageAudioNet(num_classes=3, sample_rate=8000), num_classes=3, temperature=2.0, alpha=0.5)
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    batch = {"image": image, "audio": audio, "label": labels, "teacher": teacher}
    losses = []
    for _ in range(30):
        out = task(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["loss"].item())
    assert {"kl", "ce"} <= set(out) and min(losses) < 0.5 * losses[0]
    task.eval()
    with torch.no_grad():
        plain = task({"image": image, "audio": audio, "label": labels})  # no teacher: cross-entropy only
    assert "kl" not in plain and torch.isfinite(plain["loss"])
