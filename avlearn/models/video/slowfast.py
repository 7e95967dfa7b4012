"""SlowFast networks: a slow, wide pathway and a fast, thin one joined by lateral connections.

Feichtenhofer et al., "SlowFast Networks for Video Recognition" (ICCV 2019), Table 1 (the
SlowFast R50 column) and Sec. 3:

* the **Slow** pathway sees every alpha-th frame of the clip (T/alpha frames) with C channels and
  no temporal convolution before res4 (kernels 1x1x1 in conv1, res2, res3; 3x1x1 in res4, res5,
  their "non-degenerate temporal convolutions" finding);
* the **Fast** pathway sees all T frames with beta*C channels (beta = 1/8) and temporal kernels
  everywhere (5x7x7 stem, 3x1x1 in every bottleneck), keeping full temporal resolution;
* **lateral connections** (Sec. 3.4, "time-strided convolution"): after conv1/pool1 and res2,
  res3, res4, a 5x1x1 convolution with 2*beta*C outputs and temporal stride alpha maps the fast
  features to the slow frame rate, and they are concatenated onto the slow pathway.

Here the input is one clip ``(B, C, T, H, W)`` at the fast pathway's rate (for "4x16", T = 32
frames sampled every 2; the slow pathway takes ``x[:, :, ::alpha]``, 4 frames).
``forward_features`` returns the slow map concatenated with the fast map average-pooled to the
slow frame rate, ``(B, C_slow + C_fast, T/alpha, H/32, W/32)``: global average pooling of it is
exactly the paper's head (each pathway pooled, then concatenated). ``forward_pathways`` returns
the two maps separately.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model

__all__ = ["Bottleneck3d", "LateralFusion", "SlowFast", "slowfast_r50_4x16", "slowfast_small"]


def _conv_bn_act(in_chs: int, out_chs: int, kernel, stride, norm_layer, act_layer) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    return nn.Sequential(
        nn.Conv3d(in_chs, out_chs, kernel, stride=stride, padding=padding, bias=False), norm_layer(out_chs), act_layer()
    )


class Bottleneck3d(nn.Module):
    """ResNet bottleneck ``kt x 1 x 1 -> 1 x 3 x 3 (spatial stride) -> 1 x 1 x 1`` with a shortcut.

    Args:
        in_chs: input channels.
        inner_chs: bottleneck width.
        out_chs: output channels.
        temporal_kernel: kt of the first convolution (1 for the slow pathway's early stages).
        stride: spatial stride of the 3x3 convolution and the projection shortcut.
        norm_layer: 3D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(
        self, in_chs: int, inner_chs: int, out_chs: int, *, temporal_kernel: int, stride: int, norm_layer, act_layer
    ):
        super().__init__()
        self.conv_a = _conv_bn_act(in_chs, inner_chs, (temporal_kernel, 1, 1), 1, norm_layer, act_layer)
        self.conv_b = _conv_bn_act(inner_chs, inner_chs, (1, 3, 3), (1, stride, stride), norm_layer, act_layer)
        self.conv_c = nn.Conv3d(inner_chs, out_chs, 1, bias=False)
        self.norm_c = norm_layer(out_chs)
        nn.init.zeros_(self.norm_c.weight)  # each block starts as the identity (Goyal et al. 2017)
        self.act = act_layer()
        self.shortcut = nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.shortcut = nn.Sequential(
                nn.Conv3d(in_chs, out_chs, 1, stride=(1, stride, stride), bias=False), norm_layer(out_chs)
            )

    def forward(self, x: Tensor) -> Tensor:
        s = self.shortcut(x)  # (B, C_out, T, H/s, W/s)
        x = self.conv_b(self.conv_a(x))  # (B, C_inner, T, H/s, W/s)
        x = self.norm_c(self.conv_c(x))  # (B, C_out, T, H/s, W/s)
        return self.act(x + s)


class LateralFusion(nn.Module):
    """Fast -> slow lateral connection: time-strided ``k x 1 x 1`` conv, then channel concatenation.

    Args:
        fast_chs: channels of the fast pathway here.
        alpha: temporal stride (the frame-rate ratio).
        kernel: temporal kernel (5 in the paper).
        expansion: output channels as a multiple of ``fast_chs`` (2, i.e. 2*beta*C).
        norm_layer: 3D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(self, fast_chs: int, *, alpha: int, kernel: int = 5, expansion: int = 2, norm_layer, act_layer):
        super().__init__()
        self.out_chs = expansion * fast_chs
        self.conv = nn.Conv3d(
            fast_chs, self.out_chs, (kernel, 1, 1), stride=(alpha, 1, 1), padding=(kernel // 2, 0, 0), bias=False
        )
        self.norm = norm_layer(self.out_chs)
        self.act = act_layer()

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        """``slow (B, Cs, T/a, h, w)``, ``fast (B, Cf, T, h, w)`` -> ``(B, Cs + 2Cf, T/a, h, w)``."""
        lat = self.act(self.norm(self.conv(fast)))  # (B, 2Cf, ceil(T/a), h, w)
        if lat.shape[2] != slow.shape[2]:  # T not a multiple of alpha
            lat = F.adaptive_avg_pool3d(lat, slow.shape[2:])  # (B, 2Cf, T/a, h, w)
        return torch.cat((slow, lat), dim=1)


class _PathwayMerge(nn.Module):
    """Average-pool the fast map to the slow frame rate and concatenate (the head's input)."""

    def forward(self, slow: Tensor, fast: Tensor) -> Tensor:
        fast = F.adaptive_avg_pool3d(fast, slow.shape[2:])  # (B, Cf, T/a, h, w)
        return torch.cat((slow, fast), dim=1)  # (B, Cs + Cf, T/a, h, w)


class SlowFast(nn.Module):
    """SlowFast ResNet with bottleneck blocks.

    Args:
        num_classes: classes.
        in_channels: input channels.
        alpha: frame-rate ratio between the pathways (slow sees every alpha-th frame).
        beta_inv: 1/beta, the channel ratio (the fast pathway has C / beta_inv channels).
        stem_width: slow stem channels C (64 in R50).
        depths: bottleneck blocks in res2..res5 ((3, 4, 6, 3) in R50).
        expansion: bottleneck output / inner width (4 in R50).
        fusion_kernel: temporal kernel of the lateral convolutions (5).
        slow_temporal: whether res2..res5 of the slow pathway use 3x1x1 kernels
            ((False, False, True, True) in the paper).
        drop_rate: dropout before the classifier (0.5 in the paper).
        norm_layer: 3D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        alpha: int = 8,
        beta_inv: int = 8,
        stem_width: int = 64,
        depths: tuple[int, ...] = (3, 4, 6, 3),
        expansion: int = 4,
        fusion_kernel: int = 5,
        slow_temporal: tuple[bool, ...] = (False, False, True, True),
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm3d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        if stem_width % beta_inv:
            raise ValueError(f"stem_width {stem_width} must be divisible by beta_inv {beta_inv}")
        if len(slow_temporal) != len(depths):
            raise ValueError(f"slow_temporal {slow_temporal} needs one flag per stage of depths {depths}")
        self.alpha, self.beta_inv = alpha, beta_inv
        blocks = {"norm_layer": norm_layer, "act_layer": act_layer}
        fast_width = stem_width // beta_inv
        self.slow_stem = _conv_bn_act(in_channels, stem_width, (1, 7, 7), (1, 2, 2), **blocks)
        self.fast_stem = _conv_bn_act(in_channels, fast_width, (5, 7, 7), (1, 2, 2), **blocks)
        self.pool = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1))
        self.fuse = nn.ModuleList([LateralFusion(fast_width, alpha=alpha, kernel=fusion_kernel, **blocks)])
        slow_in, fast_in = stem_width + self.fuse[0].out_chs, fast_width
        self.feature_info = [{"module": "fuse.0", "num_chs": slow_in, "reduction": 4}]
        self.slow_stages, self.fast_stages = nn.ModuleList(), nn.ModuleList()
        reduction = 4
        for i, depth in enumerate(depths):
            inner = stem_width * 2**i
            stride = 1 if i == 0 else 2
            reduction *= stride
            slow_out, fast_out = inner * expansion, inner * expansion // beta_inv
            kt_slow = 3 if slow_temporal[i] else 1
            self.slow_stages.append(self._stage(slow_in, inner, slow_out, depth, kt_slow, stride, blocks))
            self.fast_stages.append(self._stage(fast_in, inner // beta_inv, fast_out, depth, 3, stride, blocks))
            slow_in, fast_in = slow_out, fast_out
            if i < len(depths) - 1:
                self.fuse.append(LateralFusion(fast_out, alpha=alpha, kernel=fusion_kernel, **blocks))
                slow_in += self.fuse[-1].out_chs
                self.feature_info.append({"module": f"fuse.{i + 1}", "num_chs": slow_in, "reduction": reduction})
        self.merge = _PathwayMerge()
        self.num_features = slow_in + fast_in
        self.feature_info.append({"module": "merge", "num_chs": self.num_features, "reduction": reduction})
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    @staticmethod
    def _stage(in_chs, inner, out_chs, depth, kt, stride, blocks) -> nn.Sequential:
        return nn.Sequential(
            *[
                Bottleneck3d(
                    in_chs if j == 0 else out_chs,
                    inner,
                    out_chs,
                    temporal_kernel=kt,
                    stride=stride if j == 0 else 1,
                    **blocks,
                )
                for j in range(depth)
            ]
        )

    def forward_pathways(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, C, T, H, W)`` -> slow ``(B, Cs, T/alpha, H/32, W/32)``, fast ``(B, Cf, T, H/32, W/32)``."""
        slow = self.pool(self.slow_stem(x[:, :, :: self.alpha]))  # (B, C, T/a, H/4, W/4)
        fast = self.pool(self.fast_stem(x))  # (B, C/b, T, H/4, W/4)
        slow = self.fuse[0](slow, fast)  # (B, C + 2C/b, T/a, H/4, W/4)
        for i, (s_stage, f_stage) in enumerate(zip(self.slow_stages, self.fast_stages)):
            slow, fast = s_stage(slow), f_stage(fast)  # (B, Cs_i, T/a, h, w), (B, Cf_i, T, h, w)
            if i + 1 < len(self.fuse):
                slow = self.fuse[i + 1](slow, fast)  # (B, Cs_i + 2Cf_i, T/a, h, w)
        return slow, fast

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, Cs + Cf, T/alpha, H/32, W/32)``."""
        return self.merge(*self.forward_pathways(x))

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout, ``fc``; ``pre_logits`` returns ``(B, Cs + Cf)``."""
        x = self.drop(feats.mean(dim=(2, 3, 4)))  # (B, Cs + Cf)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


@register_model(modality="video", input_size=(3, 16, 64, 64), tiny_input=(3, 8, 32, 32))
def slowfast_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> SlowFast:
    """alpha 4, beta 1/4, stem 16, one bottleneck (expansion 2) per stage: ~0.45 M params."""
    kwargs = {"alpha": 4, "beta_inv": 4, "stem_width": 16, "depths": (1, 1, 1, 1), "expansion": 2, **kwargs}
    return SlowFast(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 32, 224, 224), tiny_input=(3, 8, 32, 32))
def slowfast_r50_4x16(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> SlowFast:
    """SlowFast R50, T x tau = 4 x 16, alpha 8, beta 1/8 (Table 1): 32 fast / 4 slow frames."""
    return SlowFast(num_classes=num_classes, in_channels=in_channels, **kwargs)
