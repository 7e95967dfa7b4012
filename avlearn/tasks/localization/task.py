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
baselines beside the model (:mod:`avlearn.tasks.localization.evaluate`, which also states the two
binarisation rules reported). Data: :mod:`avlearn.tasks.localization.data`.

    avlearn train avlearn/recipes/localize_attention.yaml
    avlearn evaluate avlearn/recipes/localize_cam.yaml --weights runs/sync_multisensory/weights.pt
    avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from avlearn.data.cache import CACHE_LIMIT
from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.localization.evaluate import score_sums, summarize_scores
from avlearn.tasks.localization.heatmaps import cam_heatmaps, refine_heatmaps
from avlearn.tasks.localization.losses import background_loss, correspondence_bce, correspondence_nce
from avlearn.tasks.sources import DataSource

__all__ = [
    "LocalizationConfig",
    "LocalizationData",
    "LocalizationTask",
    "build_localization_model",
    "build_localization_task",
    "build_localization_datasets",
]


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
class LocalizationData(DataSource):
    """The ``data`` section: a world made by ``avlearn make-world`` (objects or speakers kind),
    or manifests (exactly one of ``world`` and ``train``; :mod:`avlearn.tasks.sources`).

    Attributes:
        world: the world's folder.
        train: a manifest or folder of any videos (``attention``): random ``clip_duration``
            windows, ``windows_per_epoch`` per epoch, clips too short skipped and counted.
        val, test: box-annotation manifests (``avlearn prepare flickr-soundnet`` / ``vggss``;
            the middle frame and the ``clip_duration`` seconds around it) or frozen lists.
        windows_per_epoch: training windows per epoch (with ``train``).
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

    windows_per_epoch: int = 1024
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
    """The network of a ``model`` section: ``create_model(m.name, **m.kwargs)`` with local weights
    (an attention network such as ``attention_loc_small``, or a zoo model for CAM)."""
    from avlearn.models import create_model

    return create_model(m.name, weights=m.weights, strict=m.strict, **m.kwargs)


def _list_path(d: LocalizationData, value: str | None, split: str) -> str:
    return value if value is not None else os.path.join(d.world, "lists", f"localization_{split}.jsonl")


def build_localization_datasets(cfg) -> dict[str, Any]:
    """Train: random windows of the train manifest (``attention`` only); val/test: frozen lists."""
    from avlearn.tasks.localization.data import FrozenFrameDataset, load_localization_list, localization_eval_rows
    from avlearn.tasks.sources import uses_manifests, window_samples
    from avlearn.tasks.sync.data import ShiftedPairDataset, WindowPairs, av_clips

    d: LocalizationData = cfg.data
    read = dict(fps=d.fps, size=tuple(d.size), sample_rate=d.sample_rate)
    out: dict[str, Any] = {}
    if uses_manifests(d):
        if cfg.task.method == "attention":
            windows = WindowPairs(clip_duration=d.clip_duration, negatives=False, flip=d.flip)
            out["train"] = window_samples(d.train, window=windows.span(d.fps), windows_per_epoch=d.windows_per_epoch,
                                          transform=windows, seed=cfg.train.seed, mono=True, **read)
        for split in ("val", "test"):
            value = getattr(d, split)
            if value:
                rows = localization_eval_rows(value, window=d.clip_duration, size=d.size)
                out[split] = FrozenFrameDataset(rows, cache=d.cache and len(rows) <= CACHE_LIMIT, **read)
        return out
    if cfg.task.method == "attention":
        manifest = d.train_manifest or os.path.join(d.world, "train", "manifest.jsonl")
        store = av_clips(manifest, cache=d.cache, **read)
        # aligned windows only (no shifted audio), mirrored at random
        out["train"] = ShiftedPairDataset(store, clip_duration=d.clip_duration, negatives=False, flip=d.flip,
                                          seed=cfg.train.seed)
    for split, value in (("val", d.val_list), ("test", d.test_list)):
        path = _list_path(d, value, split)
        if os.path.exists(path):
            out[split] = FrozenFrameDataset(load_localization_list(path), cache=d.cache, **read)
    return out


@register_task("localization", config=LocalizationConfig, data=LocalizationData, datasets=build_localization_datasets)
def build_localization_task(cfg) -> LocalizationTask:
    """Build the model of ``cfg.model`` (local weights only) inside a :class:`LocalizationTask`."""
    return LocalizationTask(build_localization_model(cfg.model), cfg.task)
