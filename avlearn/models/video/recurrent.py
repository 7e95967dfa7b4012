"""Recurrent video models: CNN+LSTM, and recurrent convolutional networks (ConvGRU / ConvRNN).

* **CNN+LSTM** (Donahue et al., "Long-term Recurrent Convolutional Networks", CVPR 2015, Fig. 1;
  Ng et al., "Beyond Short Snippets", CVPR 2015): a 2D CNN encodes every frame to a vector, an
  LSTM runs over the frame vectors. *Many-to-one* classifies the clip from the last hidden
  state, ``(B, num_classes)``; *many-to-many* classifies every step, ``(B, T, num_classes)``.
* **Recurrent convolutional network** (Ballas et al., "Delving Deeper into Convolutional
  Networks for Learning Video Representations", ICLR 2016, eqs. 3-5, the GRU-RCN): every layer is
  a recurrent layer whose matrix multiplies are 2D convolutions, so the hidden state is a
  feature map. Layer l at time t reads layer l-1 at time t and itself at t-1:

      z = sigmoid(W_z * x_t + U_z * h_{t-1}),  r = sigmoid(W_r * x_t + U_r * h_{t-1})
      n = tanh(W * x_t + U * (r . h_{t-1})),     h_t = (1 - z) . h_{t-1} + z . n

  (``*`` a 2D convolution, ``.`` elementwise). :class:`ConvRNNCell` is the plain version,
  ``h_t = tanh(W * x_t + U * h_{t-1})``. One recurrent layer per depth, its weights shared over
  time, so the parameter count does not depend on T. The input-to-hidden convolution strides
  (downsampling like a CNN stage) and is followed by batch norm, computed for all steps at once;
  the hidden-to-hidden convolutions keep the resolution.

The CNN+LSTM's frame encoder is :class:`~avlearn.models._resnet2d.ResNet2d`; its
``feature_info`` stage maps are per frame, ``(B*T, C, h, w)``. Both models take
``(B, C, T, H, W)`` and their ``forward_features`` returns the top-layer sequence: ``(B, hidden, T)``
(CNN+LSTM) or ``(B, C, T, h, w)`` (RCN).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d

__all__ = [
    "CNNLSTM",
    "ConvGRUCell",
    "ConvRNNCell",
    "RecurrentConvLayer",
    "RecurrentConvNet",
    "SequenceHead",
    "cnn_lstm_resnet18",
    "cnn_lstm_small",
    "rcn_gru",
    "rcn_gru_small",
    "rcn_rnn",
    "rcn_rnn_small",
]


class SequenceHead(nn.Module):
    """Classifier over a sequence ``(B, C, T)``: the last step (many-to-one) or every step.

    Args:
        in_chs: feature channels C.
        num_classes: outputs; 0 makes the classifier an identity.
        many_to_many: classify every step, ``(B, T, num_classes)``; else the last, ``(B, num_classes)``.
        drop_rate: dropout before the classifier.
    """

    def __init__(self, in_chs: int, num_classes: int, *, many_to_many: bool = False, drop_rate: float = 0.0):
        super().__init__()
        self.many_to_many = many_to_many
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, seq: Tensor, pre_logits: bool = False) -> Tensor:
        x = seq.transpose(1, 2) if self.many_to_many else seq[..., -1]  # (B, T, C) or (B, C)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)


class CNNLSTM(nn.Module):
    """Per-frame 2D ResNet, then an LSTM over the frame embeddings (LRCN).

    Args:
        num_classes: classes.
        in_channels: frame channels.
        hidden_size: LSTM hidden units.
        num_layers: stacked LSTM layers.
        many_to_many: return ``(B, T, num_classes)`` (a label per frame) instead of ``(B, num_classes)``.
        widths: frame-ResNet stage widths.
        depths: frame-ResNet blocks per stage.
        stem: frame-ResNet stem ("imagenet" or "small").
        drop_rate: dropout on the frame embeddings and before the classifier.
        norm_layer: 2D normalisation constructor for the frame ResNet.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        hidden_size: int = 512,
        num_layers: int = 1,
        many_to_many: bool = False,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        stem: str = "imagenet",
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.cnn = ResNet2d(
            num_classes=0, in_channels=in_channels, widths=widths, depths=depths, stem=stem, norm_layer=norm_layer
        )
        self.feature_info = [{**info, "module": f"cnn.{info['module']}"} for info in self.cnn.feature_info]
        self.drop = nn.Dropout(drop_rate)
        self.lstm = nn.LSTM(self.cnn.num_features, hidden_size, num_layers=num_layers, batch_first=True)
        self.num_features = hidden_size
        self.head = SequenceHead(hidden_size, num_classes, many_to_many=many_to_many, drop_rate=drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, hidden_size, T)``: the LSTM's output at every step."""
        b = x.shape[0]
        frames = rearrange(x, "b c t h w -> (b t) c h w")  # (B*T, C, H, W)
        emb = self.cnn.forward_head(self.cnn.forward_features(frames), pre_logits=True)  # (B*T, D)
        emb = self.drop(rearrange(emb, "(b t) d -> b t d", b=b))  # (B, T, D)
        out, _ = self.lstm(emb)  # (B, T, hidden)
        return out.transpose(1, 2)  # (B, hidden, T)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """``(B, hidden, T)`` -> ``(B, K)`` (many-to-one) or ``(B, T, K)`` (many-to-many)."""
        return self.head(feats, pre_logits)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, num_classes)`` or ``(B, T, num_classes)``."""
        return self.forward_head(self.forward_features(x))


class ConvRNNCell(nn.Module):
    """Elman cell with convolutions: ``h_t = tanh(BN(W * x_t) + U * h_{t-1})``.

    Args:
        in_chs: input channels.
        hidden_chs: hidden-state channels.
        kernel: kernel of both convolutions.
        stride: stride of the input-to-hidden convolution.
        norm_layer: normalisation after the input-to-hidden convolution.
    """

    num_gates = 1

    def __init__(
        self,
        in_chs: int,
        hidden_chs: int,
        *,
        kernel: int = 3,
        stride: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        self.hidden_chs = hidden_chs
        g = self.num_gates * hidden_chs
        self.input_conv = nn.Conv2d(in_chs, g, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.input_norm = norm_layer(g)
        self._build_hidden(hidden_chs, kernel)

    def _build_hidden(self, c: int, kernel: int) -> None:
        self.hidden_conv = nn.Conv2d(c, c, kernel, padding=kernel // 2)

    def project_input(self, x: Tensor) -> Tensor:
        """The input-to-hidden term for every step at once: ``(N, C_in, H, W) -> (N, gates*C, H/s, W/s)``."""
        return self.input_norm(self.input_conv(x))

    def step(self, xp: Tensor, h: Tensor) -> Tensor:
        """One step from the projected input ``xp`` and the previous state ``h`` (B, C, h, w)."""
        return torch.tanh(xp + self.hidden_conv(h))


class ConvGRUCell(ConvRNNCell):
    """Convolutional GRU (Ballas et al. eqs. 3-5): update gate z, reset gate r, candidate n."""

    num_gates = 3

    def _build_hidden(self, c: int, kernel: int) -> None:
        self.gate_conv = nn.Conv2d(c, 2 * c, kernel, padding=kernel // 2)  # U_z, U_r
        self.hidden_conv = nn.Conv2d(c, c, kernel, padding=kernel // 2)  # U

    def step(self, xp: Tensor, h: Tensor) -> Tensor:
        xz, xr, xn = xp.chunk(3, dim=1)  # each (B, C, h, w)
        hz, hr = self.gate_conv(h).chunk(2, dim=1)  # each (B, C, h, w)
        z = torch.sigmoid(xz + hz)
        r = torch.sigmoid(xr + hr)
        n = torch.tanh(xn + self.hidden_conv(r * h))  # (B, C, h, w)
        return (1 - z) * h + z * n


class RecurrentConvLayer(nn.Module):
    """Runs one cell over time: ``(B, C_in, T, H, W) -> (B, C, T, H/s, W/s)``, h_0 = 0.

    Args:
        cell: a :class:`ConvRNNCell` or :class:`ConvGRUCell`, shared by all steps.
    """

    def __init__(self, cell: ConvRNNCell):
        super().__init__()
        self.cell = cell

    def forward(self, x: Tensor) -> Tensor:
        b, t = x.shape[0], x.shape[2]
        xp = self.cell.project_input(rearrange(x, "b c t h w -> (b t) c h w"))  # (B*T, G*C, H/s, W/s)
        xp = rearrange(xp, "(b t) c h w -> t b c h w", b=b)  # (T, B, G*C, H/s, W/s)
        h = xp.new_zeros(b, self.cell.hidden_chs, *xp.shape[-2:])  # (B, C, H/s, W/s)
        states = []
        for i in range(t):
            h = self.cell.step(xp[i], h)  # (B, C, H/s, W/s)
            states.append(h)
        return torch.stack(states, dim=2)  # (B, C, T, H/s, W/s)


class RecurrentConvNet(nn.Module):
    """A stack of recurrent convolutional layers (GRU-RCN / RNN-RCN) and a sequence head.

    Args:
        num_classes: classes.
        in_channels: frame channels.
        widths: hidden channels of each recurrent layer (one layer per depth).
        strides: spatial stride of each layer's input convolution.
        cell: "gru" (:class:`ConvGRUCell`) or "rnn" (:class:`ConvRNNCell`).
        kernel: kernel of the cell convolutions.
        many_to_many: return ``(B, T, num_classes)`` instead of ``(B, num_classes)``.
        drop_rate: dropout before the classifier.
        norm_layer: normalisation after each input convolution.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        strides: tuple[int, ...] = (2, 2, 2, 2),
        cell: str = "gru",
        kernel: int = 3,
        many_to_many: bool = False,
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        cells = {"gru": ConvGRUCell, "rnn": ConvRNNCell}
        if cell not in cells:
            raise ValueError(f"cell must be one of {sorted(cells)}; got {cell!r}")
        if len(widths) != len(strides):
            raise ValueError(f"widths {widths} and strides {strides} must have the same length")
        layers, self.feature_info, in_chs, reduction = [], [], in_channels, 1
        for i, (w, s) in enumerate(zip(widths, strides)):
            layers.append(RecurrentConvLayer(cells[cell](in_chs, w, kernel=kernel, stride=s, norm_layer=norm_layer)))
            reduction *= s
            self.feature_info.append({"module": f"layers.{i}", "num_chs": w, "reduction": reduction})
            in_chs = w
        self.layers = nn.Sequential(*layers)
        self.num_features = in_chs
        self.head = SequenceHead(in_chs, num_classes, many_to_many=many_to_many, drop_rate=drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, C', T, H/r, W/r)``: the top layer's hidden state at every step."""
        return self.layers(x)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Spatial mean, then the last step (many-to-one) or every step (many-to-many)."""
        return self.head(feats.mean(dim=(-2, -1)), pre_logits)  # (B, K) or (B, T, K)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, num_classes)`` or ``(B, T, num_classes)``."""
        return self.forward_head(self.forward_features(x))


_SMALL_CNN = {"widths": (16, 32, 64, 128), "depths": (1, 1, 1, 1), "stem": "small"}


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def cnn_lstm_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> CNNLSTM:
    """Small frame ResNet (16-128 channels) + LSTM with 128 hidden units."""
    kwargs = {**_SMALL_CNN, "hidden_size": 128, **kwargs}
    return CNNLSTM(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 4, 32, 32))
def cnn_lstm_resnet18(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> CNNLSTM:
    """ResNet-18 per frame + LSTM with 512 hidden units."""
    return CNNLSTM(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def rcn_gru_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> RecurrentConvNet:
    """Three ConvGRU layers (16-32-64 channels, stride 2 each)."""
    kwargs = {"widths": (16, 32, 64), "strides": (2, 2, 2), **kwargs}
    return RecurrentConvNet(num_classes=num_classes, in_channels=in_channels, cell="gru", **kwargs)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 4, 32, 32))
def rcn_gru(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> RecurrentConvNet:
    """Four ConvGRU layers (64-128-256-512 channels, stride 2 each)."""
    return RecurrentConvNet(num_classes=num_classes, in_channels=in_channels, cell="gru", **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def rcn_rnn_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> RecurrentConvNet:
    """Three ConvRNN (Elman) layers (16-32-64 channels, stride 2 each)."""
    kwargs = {"widths": (16, 32, 64), "strides": (2, 2, 2), **kwargs}
    return RecurrentConvNet(num_classes=num_classes, in_channels=in_channels, cell="rnn", **kwargs)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 4, 32, 32))
def rcn_rnn(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> RecurrentConvNet:
    """Four ConvRNN (Elman) layers (64-128-256-512 channels, stride 2 each)."""
    return RecurrentConvNet(num_classes=num_classes, in_channels=in_channels, cell="rnn", **kwargs)
