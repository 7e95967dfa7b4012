"""Non-local blocks: identity at init, the embedded-Gaussian formula, insertion keeps keys."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from avlearn.models import create_model
from avlearn.models.video.nonlocal_net import NonLocalBlock3d, insert_nonlocal


@pytest.mark.parametrize("train", [False, True])
def test_inserting_leaves_the_output_unchanged(train):
    torch.manual_seed(0)
    host = create_model("r3d_tiny", num_classes=4)
    with_nl = insert_nonlocal(copy.deepcopy(host), stages=("layer2", "layer3"), every=1)
    assert sum(isinstance(m, NonLocalBlock3d) for m in with_nl.modules()) == 2
    host.train(train), with_nl.train(train)
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(with_nl(x), host(x), atol=1e-6, rtol=1e-6)


def test_host_keys_are_kept_so_plain_weights_load(tmp_path):
    plain = create_model("r3d_tiny", num_classes=4)
    path = tmp_path / "plain.pt"
    torch.save(plain.state_dict(), path)
    nl = create_model("r3d_tiny_nl", num_classes=4, weights=path, strict=False)
    missing = set(nl.state_dict()) - set(plain.state_dict())
    assert missing and all("_nl." in k for k in missing)
    assert set(plain.state_dict()) <= set(nl.state_dict())
    torch.testing.assert_close(nl.layer2[0].conv1[0].weight, plain.layer2[0].conv1[0].weight)
    with pytest.raises(ValueError, match="missing keys .*layer2.0_nl"):
        create_model("r3d_tiny_nl", num_classes=4, weights=path)


def test_embedded_gaussian_formula():
    torch.manual_seed(0)
    block = NonLocalBlock3d(8, sub_sample=False, norm_layer=None)
    nn.init.normal_(block.out.weight)
    for conv in (block.theta, block.phi):
        nn.init.normal_(conv.weight, 0, 0.3)
    x = torch.randn(2, 8, 2, 3, 3)
    flat = lambda t: t.flatten(2)  # noqa: E731  (B, C', N)
    theta, phi, g = flat(block.theta(x)), flat(block.phi(x)), flat(block.g(x))
    attn = torch.softmax(theta.transpose(1, 2) @ phi, dim=-1)  # (B, N, N): f(x_i, x_j) / C(x)
    y = (attn @ g.transpose(1, 2)).transpose(1, 2).reshape(2, 4, 2, 3, 3)  # (B, C', T, H, W)
    expected = x + block.out(y)
    torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_zero_init_branch_still_learns():
    torch.manual_seed(0)
    block = NonLocalBlock3d(8)
    x = torch.randn(2, 8, 2, 4, 4)
    torch.testing.assert_close(block(x), x)
    opt = torch.optim.SGD(block.parameters(), lr=0.5)
    for _ in range(2):
        loss = (block(x) - x.flip(0)).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert block.norm.weight.abs().sum() > 0
    assert block.theta.weight.grad.abs().sum() > 0  # gradients reach the attention once the scale is non-zero


def test_i3d_resnet50_nl_has_five_blocks_where_wang_put_them():
    with torch.device("meta"):
        m = create_model("i3d_resnet50_nl")
    names = [n for n, mod in m.named_modules() if isinstance(mod, NonLocalBlock3d)]
    assert names == ["layer2.0_nl", "layer2.2_nl", "layer3.0_nl", "layer3.2_nl", "layer3.4_nl"]
    assert m.layer3._modules["0_nl"].theta.in_channels == 1024


def test_insert_into_a_non_sequential_stage_is_an_error():
    with pytest.raises(ValueError, match="no nn.Sequential stage 'stem.0'"):
        insert_nonlocal(create_model("r3d_tiny"), stages=("stem.0",))
