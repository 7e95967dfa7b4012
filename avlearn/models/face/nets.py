"""The three networks of MTCNN (Zhang, Zhang, Li & Qiao, "Joint Face Detection and Alignment
Using Multitask Cascaded Convolutional Networks", IEEE Signal Processing Letters 23(10), 2016,
Fig. 2): P-Net (a 12x12 fully convolutional proposal net), R-Net (24x24 refinement) and O-Net
(48x48 output net with five facial landmarks).

Layer names follow the released weights as converted to PyTorch by the MIT-licensed
facenet-pytorch package (``conv1``, ``prelu1``, ..., ``dense6_3``), so its ``pnet.pt``,
``rnet.pt`` and ``onet.pt`` state dicts load key for key; :func:`load_mtcnn_weights` reads them
from a local folder (nothing is downloaded). Inputs are RGB scaled as ``(x - 127.5) / 128``.
The dense layers of R-Net and O-Net were trained on features flattened in (W, H, C) order (the
original Caffe models are column-major), hence the permute before flattening.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from avlearn.models._registry import load_weights_file

__all__ = ["PNet", "RNet", "ONet", "load_mtcnn_weights", "MTCNN_FILES"]

MTCNN_FILES = {"pnet": "pnet.pt", "rnet": "rnet.pt", "onet": "onet.pt"}


class PNet(nn.Module):
    """Proposal net: (B, 3, H, W) -> box offsets (B, 4, H', W') and face probability (B, 2, H', W').

    One output cell sees a 12x12 window; cells are 2 pixels apart (the stride of its one pool).
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)  # face / not face
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)  # box regression

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))  # (B, 10, (H-2)/2, (W-2)/2)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))  # (B, 32, H', W')
        return self.conv4_2(x), self.conv4_1(x).softmax(dim=1)  # (B, 4, H', W'), (B, 2, H', W')


class RNet(nn.Module):
    """Refinement net: (B, 3, 24, 24) -> box offsets (B, 4) and face probability (B, 2)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = nn.PReLU(28)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))  # (B, 28, 11, 11)
        x = self.pool2(self.prelu2(self.conv2(x)))  # (B, 48, 4, 4)
        x = self.prelu3(self.conv3(x))  # (B, 64, 3, 3)
        x = x.permute(0, 3, 2, 1).flatten(1)  # (B, 576) in (W, H, C) order
        x = self.prelu4(self.dense4(x))  # (B, 128)
        return self.dense5_2(x), self.dense5_1(x).softmax(dim=1)  # (B, 4), (B, 2)


class ONet(nn.Module):
    """Output net: (B, 3, 48, 48) -> box offsets (B, 4), landmarks (B, 10: 5 x then 5 y), probability (B, 2)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))  # (B, 32, 23, 23)
        x = self.pool2(self.prelu2(self.conv2(x)))  # (B, 64, 10, 10)
        x = self.pool3(self.prelu3(self.conv3(x)))  # (B, 64, 4, 4)
        x = self.prelu4(self.conv4(x))  # (B, 128, 3, 3)
        x = x.permute(0, 3, 2, 1).flatten(1)  # (B, 1152) in (W, H, C) order
        x = self.prelu5(self.dense5(x))  # (B, 256)
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(dim=1)  # (B, 4), (B, 10), (B, 2)


def load_mtcnn_weights(nets: dict[str, nn.Module], folder: str | os.PathLike) -> None:
    """Load ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` from ``folder`` into ``nets`` (keys pnet/rnet/onet).

    The files are the state dicts shipped in the facenet-pytorch wheel
    (``facenet_pytorch/data/*.pt``); their keys equal this module's layer names.

    Raises:
        FileNotFoundError: a file is missing (the message says how to get it).
        ValueError: a file is not a torch file, or its keys / shapes do not match.
    """
    folder = os.fspath(folder)
    for name, filename in MTCNN_FILES.items():
        path = os.path.join(folder, filename)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path}: MTCNN weights not found; extract facenet_pytorch/data/{filename} from the "
                "facenet-pytorch wheel (pip download --no-deps facenet-pytorch) into this folder"
            )
        state = load_weights_file(path)
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
        try:
            nets[name].load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(f"{path}: not the MTCNN {name} weights ({str(exc).splitlines()[0]})") from None
