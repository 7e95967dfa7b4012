"""Sound-source localization: where in the frame the sound comes from, one heatmap per frame.

Two methods, both giving a (T, H, W) heatmap per clip at the input resolution:

* ``cam`` -- class activation maps of the synchronization network (Owens & Efros, ECCV 2018,
  Sec. 5 and Fig. 5): the 1x1x1 "aligned" classifier of :class:`~avlearn.models.av.multisensory.
  MultisensoryNet` applied to its last feature map (:meth:`MultisensoryNet.cam`) before the
  global pooling, resized to the frames (linearly in time when the network pools time; each
  cell on the pixels at the centre of its receptive field). The network is trained by the
  ``sync`` task; here it is only evaluated.
* ``attention`` -- audio-visual attention (Arandjelović & Zisserman, ECCV 2018, AVOL-Net;
  Senocak et al., CVPR 2018): the calibrated cosine similarity of an audio embedding with each
  spatial visual feature (:class:`~avlearn.models.av.attention_loc.AttentionLocNet`), trained
  from unlabelled clips with a correspondence objective over the batch: every video with its
  own audio is a positive and with the other clips' audio a negative. ``objective: bce`` is
  AVOL's binary correspondence loss (positives and negatives weighted equally);
  ``objective: nce`` is the contrastive form (symmetric cross-entropy over the batch's score
  matrix, as in later work built on Senocak et al.). On the synthetic world the contrastive
  form localizes far better (avlearn/recipes/README.md): about a third of random clip pairs share a
  sounding class, and BCE calls each such pair a plain negative, while the softmax only asks
  the own audio to score highest. A background term (the lowest half of each frame's
  locations, given the clip's own audio, pushed towards "no match") sharpens the maps, and an
  optional colour guided filter (He et al., ECCV 2010) makes them follow object outlines.

Evaluation runs on the synthetic world's frozen ``localization_<split>.jsonl`` lists (the
boxes of the objects sounding in the audio window, silent distractors present) with the cIoU
/ AUC / pointing-game protocol of Senocak et al. and the whole-image, centre-prior and random
baselines beside the model (:mod:`avlearn.tasks.localization_eval`, which also states the two
binarisation rules reported). Data: :mod:`avlearn.tasks.localization_data`.

    avlearn train avlearn/recipes/localize_attention.yaml
    avlearn evaluate avlearn/recipes/localize_cam.yaml --weights runs/sync_multisensory/weights.pt
    avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models.av.attention_loc import upsample_aligned
from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.localization_eval import score_sums, summarize_scores

__all__ = [
    "LocalizationConfig",
    "LocalizationData",
    "LocalizationTask",
    "cam_heatmaps",
    "guided_filter",
    "refine_heatmaps",
    "correspondence_bce",
    "correspondence_nce",
    "background_loss",
    "build_localization_model",
    "build_localization_task",
    "build_localization_datasets",
    "Localizer",
    "localizer_from_run",
    "localize_file",
    "heatmap_panel",
]


# ----------------------------------------------------------------------------- heatmaps


def cam_heatmaps(model: nn.Module, video: Tensor, audio: Tensor, *, class_index: int = 0, size: tuple[int, int] | None = None) -> Tensor:
    """Class activation maps of a sync network, one per frame at the input resolution.

    Args:
        model: a network with ``cam(video, audio, class_index=)`` returning (B, T', h, w)
            (:class:`~avlearn.models.av.multisensory.MultisensoryNet`).
        video: (B, 3, T, H, W) frames in [0, 1].
        audio: (B, C, N) waveform of the same stretch of time.
        class_index: the output whose map is taken (0: "aligned").
        size: resize the frames to this (H', W') before the network (e.g. the size it was
            trained at); the maps still come back at (H, W).

    Returns:
        (B, T, H, W) class activation (logit units, not normalised); each map cell lands on the
        pixels at the centre of its receptive field (:func:`~avlearn.models.av.attention_loc.upsample_aligned`).
    """
    if not hasattr(model, "cam"):
        raise TypeError(f"{type(model).__name__} has no cam(video, audio); CAMs need a multisensory sync network")
    b, _, t, h, w = video.shape
    x = video
    if size is not None and tuple(size) != (h, w):
        x = F.interpolate(video.flatten(1, 2), size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        x = x.view(b, 3, t, *size)  # (B, 3, T, H', W')
    maps = model.cam(x, audio, class_index=class_index).float()  # (B, T', h', w')
    if maps.shape[1] != t:  # the network pooled time: stretch the maps back to one per frame
        _, t2, h2, w2 = maps.shape
        seq = maps.permute(0, 2, 3, 1).reshape(b * h2 * w2, 1, t2)  # (B h' w', 1, T')
        maps = F.interpolate(seq, size=t, mode="linear", align_corners=False).view(b, h2, w2, t).permute(0, 3, 1, 2)
    reduction = x.shape[-1] / maps.shape[-1]  # input pixels per map cell
    return upsample_aligned(maps, (h, w), reduction, scale=w / x.shape[-1])  # (B, T, H, W)


def _box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over the (2r+1)^2 window around each pixel of (N, C, H, W), windows cut at the border."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: Tensor, src: Tensor, *, radius: int = 4, eps: float = 1e-2) -> Tensor:
    """Colour guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010, Eq. 19-21).

    In every (2r+1)^2 window the output is a linear function of the guide's colour fitted to
    the source, ``q = a . I + b``, so a coarse map takes on the edges of the image: a peak on
    part of an object spreads over the pixels of the object's colour and stops at its outline.

    Args:
        guide: (N, 3, H, W) images in [0, 1].
        src: (N, 1, H, W) maps to filter.
        radius: window radius r in pixels.
        eps: regulariser of the fit (larger: smoother, less edge-aware).

    Returns:
        (N, 1, H, W) filtered maps.
    """
    guide, src = guide.float(), src.float()
    m_i, m_p = _box_mean(guide, radius), _box_mean(src, radius)  # (N, 3, H, W), (N, 1, H, W)
    cov_ip = _box_mean(guide * src, radius) - m_i * m_p  # (N, 3, H, W)
    outer = guide[:, :, None] * guide[:, None]  # (N, 3, 3, H, W)
    n, _, h, w = guide.shape
    var = _box_mean(outer.reshape(n, 9, h, w), radius).view(n, 3, 3, h, w) - m_i[:, :, None] * m_i[:, None]
    sigma = var.permute(0, 3, 4, 1, 2) + eps * torch.eye(3, device=guide.device)  # (N, H, W, 3, 3)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2)  # (N, 3, H, W)
    b = m_p - (a * m_i).sum(1, keepdim=True)  # (N, 1, H, W)
    return (_box_mean(a, radius) * guide).sum(1, keepdim=True) + _box_mean(b, radius)


def refine_heatmaps(heat: Tensor, video: Tensor, *, radius: int = 4, eps: float = 1e-2) -> Tensor:
    """Guided-filter (B, T, H, W) heatmaps with their frames (B, 3, T, H, W) (:func:`guided_filter`)."""
    b, t, h, w = heat.shape
    guide = video.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w)  # (BT, 3, H, W)
    return guided_filter(guide, heat.reshape(b * t, 1, h, w), radius=radius, eps=eps).view(b, t, h, w)


# ----------------------------------------------------------------------------- losses


def correspondence_bce(scores: Tensor) -> Tensor:
    """AVOL's correspondence loss on a (B, B) score matrix: diagonal = own audio (label 1),
    off-diagonal = another clip's audio (label 0); positives and negatives weigh half each."""
    b = scores.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)
    pos = F.binary_cross_entropy_with_logits(scores[eye], torch.ones(b, device=scores.device))
    if b == 1:
        return pos
    neg = F.binary_cross_entropy_with_logits(scores[~eye], torch.zeros(b * (b - 1), device=scores.device))
    return 0.5 * (pos + neg)


def background_loss(logits: Tensor, fraction: float = 0.5) -> Tensor:
    """BCE pushing the mean logit of the lowest ``fraction`` of each frame's locations (B, T, h, w)
    towards 0 ("does not match"): the clip's own background as a negative."""
    flat = logits.flatten(2)  # (B, T, h*w)
    k = max(1, math.ceil(fraction * flat.shape[-1]))
    low = flat.topk(k, dim=-1, largest=False).values.mean(dim=-1)  # (B, T)
    return F.binary_cross_entropy_with_logits(low, torch.zeros_like(low))


def correspondence_nce(scores: Tensor) -> Tensor:
    """Contrastive correspondence: cross-entropy of each video over the batch's audio and of
    each audio over the videos, the own pair being the target (mean of both directions)."""
    target = torch.arange(scores.shape[0], device=scores.device)
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.t(), target))


# ----------------------------------------------------------------------------- config + task


@dataclass
class LocalizationConfig:
    """The ``task`` section of localization recipes.

    Attributes:
        name: ``localization``.
        method: ``attention`` (train an :class:`AttentionLocNet`) or ``cam`` (evaluate the class
            activation maps of a trained multisensory sync network; nothing to train).
        objective: ``nce`` (contrastive) or ``bce`` (AVOL correspondence), for ``attention``.
        background_weight: weight of the background term for ``attention``: in each clip with its
            own audio, the lowest ``background_fraction`` of the locations of every frame are
            background (the sounding objects cover less than that) and their mean logit is
            pushed towards "does not match" with BCE, so the map contrasts objects with their
            own background and not only with other clips (0 disables it).
        background_fraction: share of each frame's locations treated as background.
        refine: ``guided`` passes every heatmap through a colour guided filter with its frame
            (:func:`guided_filter`), so maps follow object outlines; ``none`` keeps them as the
            network (bilinearly upsampled) gives them.
        refine_radius: guided filter window radius, pixels.
        refine_eps: guided filter regulariser.
        cam_size: (H, W) the CAM network sees (default: ``data.size``); its maps are resized back.
        cam_class: the sync network's output whose CAM is taken (0: aligned).
        baseline_seed: seed of the random baseline (sample ``i`` uses ``seed + i``).
        tta_flip: at evaluation and inference, average each clip's logit maps with those of its
            left-right mirrored frames (mirrored back), for ``attention``; training is unchanged.
    """

    name: str = "localization"
    method: Literal["attention", "cam"] = "attention"
    objective: Literal["bce", "nce"] = "nce"
    background_weight: float = 1.0
    background_fraction: float = 0.5
    refine: Literal["none", "guided"] = "none"
    refine_radius: int = 4
    refine_eps: float = 1e-3
    cam_size: list[int] | None = None
    cam_class: int = 0
    baseline_seed: int = 0
    tta_flip: bool = False


@dataclass
class LocalizationData:
    """The ``data`` section (a world made by ``avlearn make-world``, objects or speakers kind).

    Attributes:
        world: the world's folder.
        train_manifest: training clips (default ``<world>/train/manifest.jsonl``).
        val_list: frozen val frames (default ``<world>/lists/localization_val.jsonl``).
        test_list: frozen test frames (default ``<world>/lists/localization_test.jsonl``).
        fps: frame rate the model sees.
        size: (H, W) frames the model sees; masks stay at the world's frame size.
        sample_rate: audio rate (mono).
        clip_duration: window length in seconds (the frozen lists use 1 s windows).
        flip: mirror training frames left-right at random.
        cache: keep decoded clips in memory.
    """

    world: str = "runs/world_sync"
    train_manifest: str | None = None
    val_list: str | None = None
    test_list: str | None = None
    fps: float = 4.0
    size: list[int] = field(default_factory=lambda: [64, 64])
    sample_rate: int = 16000
    clip_duration: float = 1.0
    flip: bool = True
    cache: bool = True


class LocalizationTask(Task):
    """A localization network with its correspondence loss and the cIoU metrics.

    Args:
        model: an :class:`~avlearn.models.av.attention_loc.AttentionLocNet` (``attention``) or a
            multisensory sync network (``cam``).
        cfg: the task section.

    Training batches: ``{"video": (B, 3, T, H, W), "audio": (B, 1, N)}``. Evaluation batches
    (frozen lists) add ``target`` (B,), ``gt_mask`` / ``silent_mask`` (B, Hw, Ww). Outputs:
    ``loss``, ``heatmaps`` (B, T, H, W) and, on evaluation batches, ``heatmap`` (B, H, W) of
    each target frame.
    """

    def __init__(self, model: nn.Module, cfg: LocalizationConfig | None = None):
        super().__init__()
        self.model, self.cfg = model, cfg or LocalizationConfig()

    def heatmaps(self, video: Tensor, audio: Tensor) -> Tensor:
        """(B, T, H, W) heatmaps of the configured method (refined when configured)."""
        if self.cfg.method == "cam":
            size = tuple(self.cfg.cam_size) if self.cfg.cam_size else None
            heat = cam_heatmaps(self.model, video, audio, class_index=self.cfg.cam_class, size=size)
        else:
            vis, aud = self.model.embed_video(video), self.model.embed_audio(audio)  # (B, D, T, h, w), (B, D)
            heat = self.attention_heatmaps(self.model.logit_maps(vis, aud), video, aud)  # (B, T, H, W)
        return self.refine(heat, video)

    def attention_heatmaps(self, logits: Tensor, video: Tensor, aud: Tensor) -> Tensor:
        """Unrefined (B, T, H, W) heatmaps from the attention logits (B, T, h, w) of ``video``:
        with ``tta_flip`` the logits of the mirrored frames are averaged in before the sigmoid,
        mirrored back at frame resolution (each map's cells sit on the pixels they see)."""
        size = tuple(video.shape[-2:])
        up = self.model.upsample(logits, size)  # (B, T, H, W)
        if self.cfg.tta_flip:
            flipped = self.model.logit_maps(self.model.embed_video(video.flip(-1)), aud)  # (B, T, h, w) of the mirror
            up = 0.5 * (up + self.model.upsample(flipped, size).flip(-1))
        return torch.sigmoid(up)

    def refine(self, heat: Tensor, video: Tensor) -> Tensor:
        """Apply the configured refinement (``task.refine``) to (B, T, H, W) maps of ``video``."""
        if self.cfg.refine == "guided":
            return refine_heatmaps(heat, video, radius=self.cfg.refine_radius, eps=self.cfg.refine_eps)
        return heat

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        video, audio = batch["video"], batch["audio"]
        if self.cfg.method == "cam":
            if self.training:
                raise RuntimeError("localization method 'cam' evaluates a trained sync network; train it with the sync task")
            heat = self.heatmaps(video, audio)  # (B, T, H, W)
            loss = video.new_zeros(())
        else:
            vis, aud = self.model.embed_video(video), self.model.embed_audio(audio)  # (B, D, T, h, w), (B, D)
            scores = self.model.pair_scores(vis, aud)  # (B, B)
            loss = correspondence_bce(scores) if self.cfg.objective == "bce" else correspondence_nce(scores)
            logits = self.model.logit_maps(vis, aud)  # (B, T, h, w) of each clip with its own audio
            if self.cfg.background_weight > 0:
                loss = loss + self.cfg.background_weight * background_loss(logits, self.cfg.background_fraction)
            heat = None
            if "target" in batch:
                heat = self.refine(self.attention_heatmaps(logits.detach(), video, aud), video)  # (B, T, H, W)
        out: dict[str, Any] = {"loss": loss}
        if heat is not None:
            out["heatmaps"] = heat.detach()
            if "target" in batch:
                out["heatmap"] = heat.detach()[torch.arange(heat.shape[0]), batch["target"].long()]  # (B, H, W)
        return out

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        if "heatmap" not in outputs:
            return {}
        return score_sums(outputs["heatmap"], batch, seed=self.cfg.baseline_seed)

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        return summarize_scores(sums) if "n" in sums else {}

    def export_module(self) -> nn.Module:
        return self.model


def build_localization_model(m: ModelConfig) -> nn.Module:
    """The network of a ``model`` section: an attention network by name
    (:data:`~avlearn.models.av.attention_loc.ATTENTION_MODELS`) or any zoo model."""
    from avlearn.models import create_model
    from avlearn.models.av.attention_loc import ATTENTION_MODELS, create_attention_model

    build = create_attention_model if m.name in ATTENTION_MODELS else create_model
    return build(m.name, weights=m.weights, strict=m.strict, **m.kwargs)


def _list_path(d: LocalizationData, value: str | None, split: str) -> str:
    return value if value is not None else os.path.join(d.world, "lists", f"localization_{split}.jsonl")


def build_localization_datasets(cfg) -> dict[str, Any]:
    """Train: random windows of the train manifest (``attention`` only); val/test: frozen lists."""
    from avlearn.tasks.localization_data import (
        FrozenFrameDataset,
        WindowDataset,
        load_localization_list,
    )
    from avlearn.tasks.sync_data import ClipStore

    d: LocalizationData = cfg.data
    read = dict(fps=d.fps, size=tuple(d.size), sample_rate=d.sample_rate)
    out: dict[str, Any] = {}
    if cfg.task.method == "attention":
        manifest = d.train_manifest or os.path.join(d.world, "train", "manifest.jsonl")
        store = ClipStore(manifest, cache=d.cache, **read)
        out["train"] = WindowDataset(store, clip_duration=d.clip_duration, flip=d.flip, seed=cfg.train.seed)
    for split, value in (("val", d.val_list), ("test", d.test_list)):
        path = _list_path(d, value, split)
        if os.path.exists(path):
            out[split] = FrozenFrameDataset(load_localization_list(path), cache=d.cache, **read)
    return out


@register_task("localization", config=LocalizationConfig, data=LocalizationData, datasets=build_localization_datasets)
def build_localization_task(cfg) -> LocalizationTask:
    """Build the model of ``cfg.model`` (local weights only) inside a :class:`LocalizationTask`."""
    return LocalizationTask(build_localization_model(cfg.model), cfg.task)


# ----------------------------------------------------------------------------- inference


class Localizer:
    """A trained localization network ready for whole clips.

    Args:
        task: the network inside a :class:`LocalizationTask` (method and CAM options).
        fps, size, sample_rate, clip_duration: the data options it was trained with.
    """

    def __init__(self, task: LocalizationTask, *, fps: float, size, sample_rate: int, clip_duration: float):
        self.task = task.eval()
        self.fps, self.size, self.sample_rate = float(fps), tuple(size), int(sample_rate)
        self.clip_duration = float(clip_duration)

    @property
    def method(self) -> str:
        return self.task.cfg.method

    @torch.no_grad()
    def localize(self, video: Tensor, audio: Tensor) -> Tensor:
        """Heatmaps of a whole clip, window by window.

        Args:
            video: (3, T, H, W) frames (uint8 or float in [0, 1]) at ``fps``.
            audio: (1, N) mono waveform at ``sample_rate``, starting with frame 0.

        Returns:
            (T, H, W) maps in [0, 1] (each window's maps min-max scaled together for CAMs).
            Windows of ``clip_duration`` follow each other; the last one is aligned to the end
            of the clip; a clip shorter than one window is one window.
        """
        v = video.float() / 255.0 if not video.is_floating_point() else video
        t = v.shape[1]
        nf = min(t, max(1, int(round(self.clip_duration * self.fps))))
        starts = list(range(0, max(t - nf, 0) + 1, nf))
        if starts[-1] + nf < t:
            starts.append(t - nf)
        out = torch.zeros(t, *v.shape[-2:])
        for f0 in starts:
            a0 = int(round(f0 / self.fps * self.sample_rate))
            na = int(round(nf / self.fps * self.sample_rate))
            a = audio[:, a0 : a0 + na]
            if a.shape[-1] < na:
                a = F.pad(a, (0, na - a.shape[-1]))
            heat = self.task.heatmaps(v[None, :, f0 : f0 + nf], a[None])[0].float()  # (nf, H, W)
            if self.method == "cam":
                heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-12)
            out[f0 : f0 + nf] = heat.clamp(0.0, 1.0)  # a guided filter may overshoot a little
        return out


def localizer_from_run(run: Any, *, cam_size: list[int] | None = None, tta_flip: bool | None = None) -> Localizer:
    """A :class:`Localizer` from a trained run (:func:`avlearn.load_run`).

    A ``localization`` run gives its own method; a ``sync`` run (a multisensory network) gives
    CAMs, at the size it was trained on unless ``cam_size`` is given. ``tta_flip`` overrides the
    run's ``task.tta_flip`` (mirrored-frame averaging of attention maps) when not None.

    Raises:
        ValueError: a run whose task cannot localize sounds (the message names its file).
    """
    c = run.contract
    if run.task_name == "sync":
        cfg = LocalizationConfig(name="localization", method="cam", cam_size=list(cam_size or c.frame_size))
        task = LocalizationTask(run.network, cfg)
    elif run.task_name == "localization":
        task = run.task
        if tta_flip is not None:
            task.cfg = dataclasses.replace(task.cfg, tta_flip=bool(tta_flip))
        if cam_size is not None:
            task.cfg = dataclasses.replace(task.cfg, cam_size=list(cam_size))
    else:
        raise ValueError(f"{run.path}: a {run.task_name!r} run cannot localize sounds (need a localization or sync run)")
    return Localizer(task, fps=c.fps, size=c.frame_size, sample_rate=c.sample_rate, clip_duration=c.clip_duration)




def heatmap_panel(frames: Any, heat: Any, *, count: int = 8, alpha: float = 0.5) -> Any:
    """A one-row uint8 panel of ``count`` evenly spaced frames (T, H, W, 3) with heatmaps (T, H, W) blended."""
    import numpy as np

    from avlearn.viz import image_grid, overlay_heatmap

    pick = np.unique(np.linspace(0, len(frames) - 1, num=max(1, min(count, len(frames)))).round().astype(int))
    return image_grid(list(overlay_heatmap(np.asarray(frames)[pick], np.asarray(heat)[pick], alpha=alpha)))


def localize_file(
    loc: Localizer,
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frames_png: str | os.PathLike | None = None,
    panel_frames: int = 8,
    alpha: float = 0.5,
) -> dict[str, Any]:
    """Localize the sounds of a whole file and write the heatmap video (original audio kept).

    The file is decoded at the frame rate, size and sample rate the network was trained with
    (its input contract), cut into windows of its clip length (:meth:`Localizer.localize`); the
    output is the original video (its own frames and size) with the map of each frame's time
    blended over it.

    Args:
        loc: the trained localizer (:func:`localizer_from_run`).
        path: a media file with video and audio.
        out: the output video.
        frames_png: also write a PNG panel of evenly spaced frames (enlarged to >= 128 px high).
        panel_frames: frames in the panel.
        alpha: weight of the heatmap colours.

    Returns:
        ``{"file", "out", "frames_png", "method", "tta_flip", "frames", "fps", "model_fps",
        "model_size", "duration", "peaks"}`` (``peaks``: each frame's hottest point, in pixels of
        the original video).

    Raises:
        avlearn.io.MediaError: the file cannot be read or written, or lacks video or audio.
    """
    import numpy as np

    from avlearn.io import MediaError, read_clip
    from avlearn.viz import save_image, write_heatmap_video

    path = os.fspath(path)
    view = read_clip(path, fps=loc.fps, size=loc.size, sample_rate=loc.sample_rate, mono=True)
    orig = read_clip(path)
    if view.video is None or view.audio is None or not len(view.video):
        raise MediaError(f"{path}: needs both a video and an audio stream")
    heat = loc.localize(view.video.permute(3, 0, 1, 2), view.audio)  # (T, h, w) at the model's rate
    times = orig.meta.get("frame_times") or [orig.start + i / orig.fps for i in range(len(orig.video))]
    pick = np.clip(np.floor((np.asarray(times) - view.start) * loc.fps + 1e-6).astype(int), 0, heat.shape[0] - 1)
    frames = orig.video.numpy()  # (T', H, W, 3) the file's own frames
    per_frame = heat[torch.as_tensor(pick)]  # (T', h, w): the map of each original frame's time
    written = write_heatmap_video(out, frames, per_frame, orig.audio, orig.fps, orig.sample_rate, alpha=alpha)
    png = None
    if frames_png:
        scale = max(1, 128 // frames.shape[1])  # small videos are enlarged (nearest neighbour) to >= 128 px
        png = save_image(frames_png, heatmap_panel(frames, per_frame, count=panel_frames, alpha=alpha), scale=scale)
    h, w = heat.shape[-2:]
    flat = heat.flatten(1).argmax(1)
    peaks = [[round(float(x) * frames.shape[2] / w, 1), round(float(y) * frames.shape[1] / h, 1)] for y, x in zip(flat // w, flat % w)]
    return {
        "file": path, "out": written, "frames_png": png, "method": loc.method, "tta_flip": loc.task.cfg.tta_flip,
        "frames": len(frames), "fps": orig.fps, "model_fps": loc.fps, "model_size": list(loc.size),
        "duration": orig.duration, "peaks": peaks,
    }
