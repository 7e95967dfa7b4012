"""Datasets of paired video and audio: manifests, clip samplers, transforms, collate.

    >>> from avlearn.data import AVDataset, RandomClipSampler, make_loader, transforms as T
    >>> ds = AVDataset("train.csv", sampler=RandomClipSampler(1.0), fps=8, size=(128, 128),
    ...                sample_rate=16000, transform=T.Compose([T.ToFloatCTHW(), T.RandomCrop(112)]))
    >>> loader = make_loader(ds, 8, shuffle=True, seed=0, num_workers=2)
    >>> batch = next(iter(loader))   # {"video": (B, 3, 8, 112, 112), "audio": (B, C, 16000), ...}

At dataset scale, :class:`WindowDataset` streams an epoch of random windows from a manifest
of any size, and :class:`ShardDataset` reads tar shards written by :func:`write_shards`; both
split their work across DDP ranks and DataLoader workers (:func:`make_stream_loader`).
Manifests of real datasets are written by :mod:`avlearn.data.prepare` (``avlearn prepare``);
frozen evaluation lists by :mod:`avlearn.data.eval_lists` (``avlearn make-lists``); a user's
box/track files (where each source is, over time) are read by :mod:`avlearn.data.box_tracks`.

The synthetic audio-visual world lives in :mod:`avlearn.data.synthetic`.
"""

from avlearn.data import box_tracks as _box_tracks_module
from avlearn.data import collate as _collate_module
from avlearn.data import dataset as _dataset_module
from avlearn.data import manifest as _manifest_module
from avlearn.data import samplers as _samplers_module
from avlearn.data import shards as _shards_module
from avlearn.data import streaming as _streaming_module
from avlearn.data._parts import make_stream_loader, resolve_rank
from avlearn.data import transforms
from avlearn.data.box_tracks import BoxTrack, BoxTrackError, load_box_tracks
from avlearn.data.collate import collate, collate_values
from avlearn.data.dataset import SAMPLE_KEYS, AVDataset, make_loader, seed_worker, set_loader_epoch
from avlearn.data.manifest import (
    MANIFEST_FIELDS,
    LabelVocab,
    ManifestError,
    ManifestRow,
    load_manifest,
    save_manifest,
)
from avlearn.data.shards import ClipDecoder, ShardDataset, ShardWriter, list_shards, parse_size, write_shards
from avlearn.data.streaming import WindowDataset
from avlearn.data.samplers import (
    ClipSampler,
    RandomClipSampler,
    SlidingWindowSampler,
    UniformClipSampler,
    Window,
)

__all__ = [
    "transforms",
    "BoxTrack",
    "BoxTrackError",
    "load_box_tracks",
    *_dataset_module.__all__,
    *_collate_module.__all__,
    *_manifest_module.__all__,
    *_samplers_module.__all__,
    *_shards_module.__all__,
    *_streaming_module.__all__,
    "make_stream_loader",
    "resolve_rank",
]
