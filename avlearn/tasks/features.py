"""Per-window embeddings of whole files with any registered model (the feature-extractor use).

A file (or an in-memory :class:`~avlearn.io.AVClip`) is cut into sliding windows of
``clip_duration`` seconds every ``stride`` seconds; each window becomes the model's input
(frames resampled to ``fps`` and resized to ``size``; audio resampled to ``sample_rate``), and
the embedding is the pooled pre-logits vector (``forward_head(..., pre_logits=True)``) or,
with ``layer=i``, the global average of the ``feature_info[i]`` feature map, as in the
off-the-shelf CNN-feature protocol (Razavian et al., CVPRW 2014; for video, the clip features
of C3D, Tran et al. ICCV 2015, Sec. 3.3 and the I3D / SlowFast linear-probe evaluations).

    >>> fx = avlearn.FeatureExtractor("r3d_18", weights="r3d18.pt")   # Kinetics-400 preprocessing
    >>> feats = fx("talk.mp4")                 # (num_windows, 512)
    >>> out = fx.extract("talk.mp4"); out.starts  # window start times in seconds

Preprocessing travels with the weights: by default the model's
:class:`~avlearn.models.contract.InputContract` (the registry entry's ``contract`` for a zoo
model, :attr:`avlearn.Run.contract` for a trained run, :meth:`FeatureExtractor.from_run`) sets
the frame rate, frame size, window length and pixel mean/std; explicit options override it and
``normalize=False`` feeds frames in [0, 1]. The torchvision-compatible ``r3d_18``, ``mc3_18``
and ``r2plus1d_18`` carry torchvision's Kinetics-400 contract (16 frames at 15 fps, 112x112,
mean (0.43216, 0.394666, 0.37645), std (0.22803, 0.22145, 0.216989); Tran et al., CVPR 2018),
so a torchvision weights file the user has works as it is::

    # once, where torchvision can download: torch.save(torchvision.models.video.r3d_18(
    #     weights="KINETICS400_V1").state_dict(), "r3d18_k400.pt")
    >>> fx = avlearn.FeatureExtractor("r3d_18", weights="r3d18_k400.pt")  # same keys, no renaming

(torchvision resizes frames to 128x171 and crops the centre 112x112; the extractor resizes the
whole frame to 112x112, which keeps the whole field of view; pass ``size=`` to change it.)

A file is read with one streaming pass (:class:`avlearn.io.stream.StreamReader`) at the
contract's size and rate, window by window, ``batch_size`` windows per forward pass: memory
does not grow with the file's duration. On a GPU the forward pass runs in mixed precision
(:func:`avlearn.models.device.autocast`).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.io import AVClip, probe
from avlearn.io.errors import CorruptMediaError
from avlearn.io.stream import StreamReader
from avlearn.models._features import FeatureListNet
from avlearn.models._registry import _unwrap_state_dict, create_model, load_weights, model_entry
from avlearn.models.contract import InputContract
from avlearn.models.device import autocast, resolve_device
from avlearn.tasks.export import is_export, load_export

__all__ = ["FeatureExtractor", "Features"]

DEFAULT_FPS = 16.0  # the synthetic world's frame rate
DEFAULT_SAMPLE_RATE = 16000  # and its audio rate


class Features(NamedTuple):
    """Attributes:
    features: float32 (num_windows, D) on the CPU.
    starts: float64 (num_windows,) window start times in seconds (on the file's clock).
    path: the source file ("" for an in-memory clip).
    """

    features: Tensor
    starts: np.ndarray
    path: str


def _stack(items: list[Any]) -> Any:
    if isinstance(items[0], dict):
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}
    return torch.stack(items)


def _to(x: Any, device: torch.device) -> Any:
    return {k: v.to(device) for k, v in x.items()} if isinstance(x, dict) else x.to(device)


class FeatureExtractor:
    """Sliding-window feature extraction with a registered model.

    Args:
        model_name: a classifier from :func:`avlearn.models.list_models` (``output="logits"``;
            video, audio waveform or ``av`` models work out of the box; others need ``preprocess``).
        weights: local checkpoint or state dict to load (never downloaded), or a folder written
            by ``avlearn export`` (its contract is then the default).
        layer: index into the model's ``feature_info`` (global-average-pooled); None (default)
            uses the pre-logits embedding.
        clip_duration: window length in seconds (default: the contract's, else the model's
            reference frame count at ``fps``, or its reference audio length at ``sample_rate``).
        stride: seconds between window starts (default ``clip_duration``: no overlap).
        fps: frame rate of the windows (default: the contract's, else 16).
        size: (H, W) of the frames (default: the contract's, else the model's reference input size).
        sample_rate: audio rate of the windows (default: the contract's, else 16000).
        mean, std: per-channel normalisation after scaling frames to [0, 1] (default: the
            contract's, e.g. Kinetics-400's for ``r3d_18``; none for models without one, as
            avlearn's tasks train).
        normalize: apply the contract's mean/std (False: frames in [0, 1] unless ``mean``/``std``
            are given).
        contract: the preprocessing to follow (default: the registry entry's ``contract``).
        batch_size: windows per forward pass.
        device: where the model runs (``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"``).
        preprocess: ``fn(window: AVClip) -> model input`` (a tensor or dict without the batch
            dimension), replacing the built-in conversion.
        weights_prefix: load only the keys under this prefix (e.g. ``"backbone."`` of a task
            checkpoint), with the prefix removed.
        **model_kwargs: passed to :func:`avlearn.models.create_model` (e.g. ``num_classes``
            matching the checkpoint).
    """

    def __init__(
        self,
        model_name: str,
        weights: str | os.PathLike | dict | None = None,
        *,
        layer: int | None = None,
        clip_duration: float | None = None,
        stride: float | None = None,
        fps: float | None = None,
        size: tuple[int, int] | int | None = None,
        sample_rate: int | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        normalize: bool = True,
        contract: InputContract | None = None,
        batch_size: int = 4,
        device: str | torch.device = "cpu",
        preprocess: Callable[[AVClip], Any] | None = None,
        weights_prefix: str | None = None,
        **model_kwargs,
    ):
        entry = model_entry(model_name)
        if entry.output != "logits":
            raise ValueError(f"{model_name} is a task network (output {entry.output!r}), not a zoo classifier with "
                             f"forward_features / forward_head; extract features with one of list_models(output='logits')")
        model = create_model(model_name, **model_kwargs)
        if weights is not None and not isinstance(weights, dict) and is_export(weights):  # `avlearn export` folder
            _, weights, exported, _ = load_export(weights)
            contract = contract if contract is not None else exported
        if weights is not None:
            load_weights(model, _select_prefix(weights, weights_prefix) if weights_prefix else weights)
        ref = entry.input_size
        self._setup(
            model,
            modality=entry.modality,
            video_shape=ref.get("video") if isinstance(ref, dict) else (ref if len(ref) == 4 else None),
            audio_shape=ref.get("audio") if isinstance(ref, dict) else (ref if entry.modality == "audio" else None),
            layer=layer, clip_duration=clip_duration, stride=stride, fps=fps, size=size, sample_rate=sample_rate,
            mean=mean, std=std, normalize=normalize, contract=contract if contract is not None else entry.contract,
            batch_size=batch_size, device=device, preprocess=preprocess,
        )  # fmt: skip

    @classmethod
    def from_model(
        cls,
        model: nn.Module,
        *,
        modality: str = "video",
        frames: int | None = None,
        audio_channels: int = 1,
        **options,
    ) -> "FeatureExtractor":
        """Wrap an already built model (e.g. a trained task's backbone).

        Args:
            model: follows the ``forward_features`` / ``forward_head`` / ``feature_info``
                contract of :mod:`avlearn.models._features`.
            modality: "video", "audio" (waveform) or "av" (``{"video", "audio"}`` input).
            frames: frames per window (default: ``clip_duration * fps``, or 16 frames).
            audio_channels: channels the model's audio input has.
            **options: the keyword options of :class:`FeatureExtractor` (``layer``,
                ``clip_duration``, ``stride``, ``fps``, ``size`` (None keeps the decoded
                size), ``sample_rate``, ``mean``, ``std``, ``normalize``, ``contract`` (none by
                default), ``batch_size``, ``device``, ``preprocess``).
        """
        self = cls.__new__(cls)
        c = options.get("contract") or InputContract()
        duration = options.get("clip_duration") or c.clip_duration
        size = options.get("size") or c.frame_size
        fps = options.get("fps") or c.fps or DEFAULT_FPS
        frames = frames or (c.num_frames if not options.get("clip_duration") and not options.get("fps") else None)
        t = frames or (int(round(duration * fps)) if duration else 16)
        hw = (size, size) if isinstance(size, int) else size
        video_shape = (3, t) + (tuple(hw) if hw else (None, None)) if modality in ("video", "av") else None
        n = int(round((duration or t / fps) * (options.get("sample_rate") or c.sample_rate or DEFAULT_SAMPLE_RATE)))
        audio_shape = (audio_channels, n) if modality in ("audio", "av") else None
        self._setup(model, modality=modality, video_shape=video_shape, audio_shape=audio_shape, **options)
        return self

    @classmethod
    def from_run(cls, run: Any, **options) -> "FeatureExtractor":
        """Wrap a trained or exported run (:func:`avlearn.load_run`) with its input contract.

        The run's network must follow the ``forward_features`` / ``forward_head`` contract (a
        zoo classifier: ``load_run(path, model=name)`` or an exported one). Its modality is the
        registry entry's when the run names a registered model, else ``"video"``.

        Args:
            run: the :class:`~avlearn.tasks.runs.Run`.
            **options: as in :meth:`from_model`; ``contract`` defaults to ``run.contract``.
        """
        name = ((run.recipe or {}).get("model") or {}).get("name")
        if not all(hasattr(run.network, f) for f in ("forward_features", "forward_head")):
            raise ValueError(f"{run.path}: the {run.task_name} run's network ({type(run.network).__name__}) has no "
                             "forward_features / forward_head; extract features from a classifier run or a zoo model")
        modality = options.pop("modality", None)
        if modality is None:
            try:
                modality = model_entry(name).modality if name else "video"
            except KeyError:
                modality = "video"
        options.setdefault("contract", run.contract)
        return cls.from_model(run.network, modality=modality, **options)

    def _setup(self, model, *, modality, video_shape, audio_shape, layer=None, clip_duration=None, stride=None,
               fps=None, size=None, sample_rate=None, mean=None, std=None, normalize=True, contract=None,
               batch_size=4, device="cpu", preprocess=None) -> None:  # fmt: skip
        if preprocess is None and modality not in ("video", "audio", "av"):
            raise ValueError(f"{type(model).__name__}: modality {modality!r} needs a preprocess= function")
        if audio_shape is not None and len(audio_shape) != 2 and preprocess is None:
            raise ValueError(
                f"{type(model).__name__} takes audio of shape {tuple(audio_shape)} (not a (C, N) waveform); "
                "pass preprocess= to build it (e.g. a log-mel spectrogram)"
            )
        self.modality = modality
        self.preprocess = preprocess
        c = self.contract = contract or InputContract()
        fps, size, sample_rate = fps or c.fps, size or c.frame_size, sample_rate or c.sample_rate
        if clip_duration is None and c.clip_duration is not None:  # the contract's frames at the chosen rate
            clip_duration = c.num_frames / fps if c.num_frames and fps else c.clip_duration
        if normalize and mean is None and std is None:
            mean, std = c.mean, c.std
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        self.fps = float(fps or DEFAULT_FPS)
        self.sample_rate = int(sample_rate or DEFAULT_SAMPLE_RATE)
        if clip_duration is None:  # the model's reference clip; 1 s when it has no time axis in samples
            waveform = audio_shape is not None and len(audio_shape) == 2
            clip_duration = video_shape[1] / self.fps if video_shape else (audio_shape[-1] / self.sample_rate if waveform else 1.0)
        self.clip_duration = float(clip_duration)
        self.stride = float(stride or self.clip_duration)
        if self.clip_duration <= 0 or self.stride <= 0:
            raise ValueError(f"clip_duration ({self.clip_duration}) and stride ({self.stride}) must be > 0")
        self.num_frames = max(1, int(round(self.clip_duration * self.fps)))
        self.num_samples = max(1, int(round(self.clip_duration * self.sample_rate)))
        if size is None and video_shape is not None and video_shape[-1] is not None:
            size = tuple(video_shape[-2:])
        self.size = (size, size) if isinstance(size, int) else (tuple(size) if size else None)
        self.audio_channels = audio_shape[0] if audio_shape is not None else None
        self.mean = None if mean is None else torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1)
        self.std = None if std is None else torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1)
        self.batch_size = int(batch_size)
        self.device = resolve_device(device)
        self.layer = layer
        self.model = model.eval().to(self.device)
        self._net = FeatureListNet(model, out_indices=(layer,)) if layer is not None else None
        self._num_chs = self._net.feature_info[0]["num_chs"] if self._net is not None else None

    # -- windows -----------------------------------------------------------------------------
    def window_starts(self, duration: float, start: float = 0.0) -> np.ndarray:
        """Start times of the windows covering ``[start, start + duration)``; at least one."""
        n = int(np.floor((duration - self.clip_duration) / self.stride + 1e-6)) + 1
        return start + self.stride * np.arange(max(n, 1), dtype=np.float64)

    def reader(self, path: str | os.PathLike, *, video: bool = True, audio: bool = True) -> StreamReader:
        """The streaming reader of a file's windows at the extractor's rates and size (one pass)."""
        return StreamReader(
            path, self.clip_duration, self.stride, fps=self.fps if video else None, size=self.size if video else None,
            sample_rate=self.sample_rate if audio else None, video=video, audio=audio, last="pad",
        )  # fmt: skip

    def _window(self, clip: AVClip, start: float) -> AVClip:
        """The window at ``start`` (absolute seconds) of a clip already at the target rates."""
        rel = start - clip.start
        video = audio = None
        if clip.video is not None:
            i = int(np.floor(rel * self.fps + 1e-6))  # the frame shown at ``start`` (as the stream reader picks)
            idx = torch.arange(i, i + self.num_frames).clamp_(0, clip.video.shape[0] - 1)  # repeat edge frames
            video = clip.video[idx]  # (T, H, W, 3)
        if clip.audio is not None:
            j = int(round(rel * self.sample_rate))
            audio = clip.audio[:, max(j, 0) : j + self.num_samples]  # (C, N')
            audio = F.pad(audio, (0, self.num_samples - audio.shape[1]))  # (C, N)
        return AVClip(video, audio, self.fps, self.sample_rate, start, self.clip_duration, clip.path)

    def _conform(self, clip: AVClip) -> AVClip:
        """Bring an in-memory clip to the extractor's fps, size and sample rate."""
        video, audio = clip.video, clip.audio
        if video is not None:
            src_fps = float(clip.fps or self.fps)
            n = max(1, int(round(video.shape[0] / src_fps * self.fps)))
            idx = torch.clamp((torch.arange(n) / self.fps * src_fps + 1e-6).floor().long(), max=video.shape[0] - 1)
            video = video[idx]  # (T', H, W, 3) at self.fps
            if self.size is not None and tuple(video.shape[1:3]) != self.size:
                x = video.permute(0, 3, 1, 2).float()  # (T', 3, H, W)
                x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=True)
                video = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)  # (T', h, w, 3)
        if audio is not None and clip.sample_rate and clip.sample_rate != self.sample_rate:
            import torchaudio.functional as AF

            audio = AF.resample(audio, int(clip.sample_rate), self.sample_rate)  # (C, N')
        return AVClip(video, audio, self.fps, self.sample_rate, clip.start, clip.duration, clip.path, dict(clip.meta))

    def _input(self, window: AVClip) -> Any:
        """Model input of one window, without the batch dimension."""
        if self.preprocess is not None:
            return self.preprocess(window)
        out = {}
        if self.modality in ("video", "av"):
            x = window.video.permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W)
            if self.mean is not None:
                x = (x - self.mean) / self.std
            out["video"] = x
        if self.modality in ("audio", "av"):
            a = window.audio  # (C, N)
            if a.shape[0] != self.audio_channels:
                a = a.mean(0, keepdim=True).expand(self.audio_channels, -1)  # mix down, then copy
            out["audio"] = a.contiguous()
        return out if self.modality == "av" else out[self.modality]

    # -- features ----------------------------------------------------------------------------
    @torch.inference_mode()
    def _embed(self, batch: Any) -> Tensor:
        x = _to(batch, self.device)
        with autocast(self.device):
            return self._pooled(x)

    def _pooled(self, x: Any) -> Tensor:
        if self._net is None:
            emb = self.model.forward_head(self.model.forward_features(x), pre_logits=True)  # (B, D)
            return emb.flatten(1).float().cpu()
        fmap = self._net(x)[0]  # (B, C, ...) or (B, ..., C)
        if fmap.ndim > 2 and fmap.shape[1] != self._num_chs and fmap.shape[-1] == self._num_chs:
            fmap = fmap.movedim(-1, 1)  # channels-last tokens -> (B, C, ...)
        return fmap.flatten(2).mean(2).float().cpu() if fmap.ndim > 2 else fmap.float().cpu()  # (B, C)

    def _run(self, windows: list[AVClip]) -> Tensor:
        out = [self._embed(_stack([self._input(w) for w in windows[i : i + self.batch_size]]))
               for i in range(0, len(windows), self.batch_size)]  # fmt: skip
        return torch.cat(out)  # (W, D)

    def extract(self, source: str | os.PathLike | AVClip, *, progress: bool = False) -> Features:
        """Embeddings of every window of a file or clip.

        A file is streamed (:meth:`reader`): decoded once, at the model's size and rates,
        ``batch_size`` windows at a time, so memory stays flat in the file's duration. The
        windows are those of :meth:`window_starts` over the probed duration (every full window,
        at least one, padded when the file is shorter than a window).

        Args:
            source: a media file or an in-memory :class:`~avlearn.io.AVClip`.
            progress: show a progress bar over the file's windows (tqdm, on stderr).

        Raises:
            avlearn.io.MediaError: the file cannot be read (its message names the file).
        """
        if isinstance(source, AVClip):
            clip = self._conform(source)
            starts = self.window_starts(clip.duration, clip.start)
            return Features(self._run([self._window(clip, s) for s in starts]), starts, source.path)
        from tqdm import tqdm

        path = os.fspath(source)
        info = probe(path)
        # What the model needs; with a custom preprocess, whatever the file has.
        want_video = self.modality in ("video", "av") or (self.preprocess is not None and info.video is not None)
        want_audio = self.modality in ("audio", "av") or (self.preprocess is not None and info.audio is not None)
        wanted = len(self.window_starts(info.duration))
        feats, starts, pending = [], [], []
        bar = tqdm(total=wanted, desc=os.path.basename(path), unit="win", file=sys.stderr, disable=not progress,
                   leave=False)  # fmt: skip
        with bar:
            for window in self.reader(path, video=want_video, audio=want_audio):
                pending.append(self._input(window))
                starts.append(window.start)
                if len(pending) == self.batch_size:
                    feats.append(self._embed(_stack(pending)))  # (B, D)
                    bar.update(len(pending))
                    pending = []
                if len(starts) == wanted:
                    break
            if pending:
                feats.append(self._embed(_stack(pending)))
                bar.update(len(pending))
        if not feats:
            raise CorruptMediaError(path, "no window could be read")
        return Features(torch.cat(feats), np.asarray(starts, dtype=np.float64), path)

    def __call__(self, source: str | os.PathLike | AVClip) -> Tensor:
        """``(num_windows, D)`` embeddings of a file or :class:`~avlearn.io.AVClip`."""
        return self.extract(source).features


def _select_prefix(weights: str | os.PathLike | dict, prefix: str) -> dict[str, Tensor]:
    """The entries of a state dict (or checkpoint file) under ``prefix``, prefix removed."""
    obj = torch.load(os.fspath(weights), map_location="cpu", weights_only=True) if not isinstance(weights, dict) else weights
    state = _unwrap_state_dict(obj)
    picked = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not picked:
        where = weights if not isinstance(weights, dict) else "<state dict>"
        raise ValueError(f"{where}: no weights under prefix {prefix!r} (keys start like {sorted(state)[:3]})")
    return picked
