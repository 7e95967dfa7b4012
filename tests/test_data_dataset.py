"""AVDataset + make_loader on tiny real media: bad files skipped and counted, deterministic clips."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from avlearn.data import (
    AVDataset,
    ManifestRow,
    RandomClipSampler,
    SlidingWindowSampler,
    UniformClipSampler,
    make_loader,
    save_manifest,
    set_loader_epoch,
)
from avlearn.data import transforms as T
from avlearn.io import write_av

FPS, SR, SECONDS = 8, 8000, 2.0
WORKER_TIMEOUT = 30  # seconds a batch may take: a hung worker fails the test instead of the suite


def _write_clip(path, shade):
    """2 s, 8 fps, 32x32: frame i is grey level 10*i + shade; 8 kHz mono, a tone."""
    n_frames = int(SECONDS * FPS)
    levels = torch.arange(n_frames) * 10 + shade
    video = levels.view(-1, 1, 1, 1).expand(n_frames, 32, 32, 3).to(torch.uint8)
    t = torch.arange(int(SECONDS * SR)) / SR
    audio = (0.3 * torch.sin(2 * torch.pi * 440 * t)).view(1, -1)
    write_av(path, video, audio, fps=FPS, sample_rate=SR)


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    for name, shade in (("a", 0), ("b", 4), ("c", 8)):
        _write_clip(root / f"{name}.mp4", shade)
    (root / "empty.mp4").write_bytes(b"")
    rows = [
        ManifestRow(str(root / "a.mp4"), label="dog", extra={"speaker": "ann"}),
        ManifestRow(str(root / "empty.mp4"), label="cat", extra={"speaker": "bo"}),
        ManifestRow(str(root / "b.mp4"), label="cat", start=0.5, end=1.75, extra={"speaker": "cy"}),
        ManifestRow(str(root / "missing.mp4"), label="dog", extra={"speaker": "di"}),
        ManifestRow(str(root / "c.mp4"), label="bird", extra={"speaker": "ed"}),
    ]
    save_manifest(rows, root / "train.csv")
    return root / "train.csv"


def _dataset(manifest, sampler=None, **kw):
    transform = T.Compose([T.ToFloatCTHW(), T.RandomCrop(16), T.RandomGain((-3.0, 3.0))])
    return AVDataset(manifest, sampler=sampler or RandomClipSampler(0.5), fps=FPS, sample_rate=SR,
                     transform=transform, **kw)


def _epoch_items(loader, epoch):
    set_loader_epoch(loader, epoch)
    items, skipped = {}, 0
    for batch in loader:
        skipped += batch["skipped"]
        for j, index in enumerate(batch.get("index", torch.zeros(0)).tolist()):
            items[index] = (batch["start"][j].item(), batch["video"][j], batch["audio"][j])
    return items, skipped


def test_sample_contents(manifest):
    ds = AVDataset(manifest, sampler=UniformClipSampler(0.5, 2), fps=FPS, sample_rate=SR, mono=True)
    assert len(ds) == 10 and ds.vocab.names == ["bird", "cat", "dog"]
    s = ds[4]  # row 2 (b.mp4, span [0.5, 1.75]), clip 0
    assert s["video"].shape == (3, 4, 32, 32) and s["video"].dtype == torch.float32
    assert s["audio"].shape == (1, 4000) and s["audio"].abs().max() > 0.1
    assert (s["label"], s["speaker"], s["index"], s["clip_index"]) == (1, "cy", 4, 0)
    assert s["start"] == pytest.approx(0.5) and s["duration"] == pytest.approx(0.5)
    assert s["fps"] == FPS and s["sample_rate"] == SR and s["path"].endswith("b.mp4")
    grey = (s["video"][0, :, 16, 16] * 255).round()  # frame i of the file is 10*i + 4
    assert torch.allclose(grey, torch.tensor([44.0, 54, 64, 74]), atol=3)
    last = ds[5]
    assert last["start"] == pytest.approx(1.25)
    assert (last["video"][0, 0, 16, 16] * 255).round() == pytest.approx(104, abs=3)  # frame 10
    assert ds[2] is None and ds[-4] is None  # empty.mp4 and missing.mp4


def test_loader_with_workers_skips_bad_files(manifest):
    ds = _dataset(manifest)
    loader = make_loader(ds, 2, shuffle=True, seed=3, num_workers=2, timeout=WORKER_TIMEOUT)
    for epoch in range(2):
        items, skipped = _epoch_items(loader, epoch)
        assert skipped == 2 and sorted(items) == [0, 2, 4]
    assert ds.bad_samples == 4  # counted in the workers, seen by the main process
    assert sorted(p.rsplit("/", 1)[-1] for p in ds.bad_files) == ["empty.mp4", "missing.mp4"]


@pytest.mark.timeout(180)
def test_workers_after_decoding_in_the_main_process(tmp_path):
    """Forked workers must not inherit FFmpeg thread pools the parent used (a known DataLoader hang)."""
    frames = torch.randint(0, 256, (16, 96, 128, 3), dtype=torch.uint8)
    write_av(tmp_path / "big.mp4", frames, torch.zeros(1, 16000), fps=FPS, sample_rate=SR)
    ds = AVDataset([ManifestRow(str(tmp_path / "big.mp4"))], sampler=UniformClipSampler(0.5, 4), fps=FPS)
    assert ds[0]["video"].shape == (3, 4, 96, 128)  # decode in the main process first
    batches = list(make_loader(ds, 2, shuffle=False, seed=0, num_workers=2, timeout=WORKER_TIMEOUT))
    assert sum(len(b["index"]) for b in batches) == 4 and ds.bad_samples == 0


def test_bad_files_logged_once(manifest, caplog):
    ds = _dataset(manifest)
    with caplog.at_level(logging.WARNING, logger="avlearn.data.dataset"):
        for _ in range(3):
            assert [ds[i] is None for i in range(len(ds))] == [False, True, False, True, False]
    assert ds.bad_samples == 6
    assert len(caplog.records) == 2 and "empty.mp4" in caplog.records[0].getMessage()
    ds.reset_bad_samples()
    assert ds.bad_samples == 0


def test_deterministic_given_seed(manifest):
    ds = _dataset(manifest, seed=5)
    by_workers, _ = _epoch_items(make_loader(ds, 2, shuffle=True, seed=1, num_workers=2, timeout=WORKER_TIMEOUT), 0)
    in_process, _ = _epoch_items(make_loader(_dataset(manifest, seed=5), 3, shuffle=False, seed=9, num_workers=0), 0)
    assert sorted(by_workers) == sorted(in_process)
    for index, (start, video, audio) in by_workers.items():  # same clip, crop and gain
        assert start == in_process[index][0]
        assert torch.equal(video, in_process[index][1]) and torch.equal(audio, in_process[index][2])
    next_epoch, _ = _epoch_items(make_loader(ds, 2, shuffle=True, seed=1, num_workers=0), 1)
    assert [next_epoch[i][0] for i in (0, 2, 4)] != [by_workers[i][0] for i in (0, 2, 4)]
    other_seed, _ = _epoch_items(make_loader(_dataset(manifest, seed=6), 2, shuffle=True, seed=1, num_workers=0), 0)
    assert [other_seed[i][0] for i in (0, 2, 4)] != [by_workers[i][0] for i in (0, 2, 4)]


def test_shuffle_order_depends_on_seed_and_epoch(manifest):
    ds = AVDataset(manifest, sampler=RandomClipSampler(0.5), video=False, sample_rate=SR)
    loader = make_loader(ds, 1, shuffle=True, seed=0, num_workers=0)

    def order(epoch):
        set_loader_epoch(loader, epoch)
        return [b["index"].item() for b in loader if "index" in b]

    assert order(0) == order(0) and sorted(order(0)) == [0, 2, 4]
    assert len({tuple(order(e)) for e in range(6)}) > 1


def test_sliding_windows_enumerate_every_clip(manifest):
    ds = _dataset(manifest, sampler=SlidingWindowSampler(0.5, 0.5))
    assert len(ds) == 4 + 1 + 3 + 1 + 4  # 2 s files: 4 windows; span [0.5, 1.75]: 3; bad files: 1
    starts = {}
    for i in range(len(ds)):
        s = ds[i]
        if s is not None:
            starts.setdefault(s["path"].rsplit("/", 1)[-1], []).append(s["start"])
    assert starts["a.mp4"] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert starts["b.mp4"] == pytest.approx([0.5, 1.0, 1.25])  # the last window ends at the span's end
    assert ds.bad_samples == 2


def test_whole_span_and_audio_only(manifest):
    ds = AVDataset(manifest, video=False, sample_rate=SR, transform=T.MuLawCompress())
    s = ds[2]
    assert "video" not in s and s["audio"].shape == (1, 10000)  # [0.5, 1.75] at 8 kHz
    assert float(s["audio"].abs().max()) <= 1.0


def test_bad_arguments(manifest, tmp_path):
    with pytest.raises(ValueError, match="clash"):
        AVDataset([ManifestRow(str(tmp_path / "a.mp4"), extra={"index": 1})])
    with pytest.raises(ValueError, match="at least one"):
        AVDataset(manifest, video=False, audio=False)
    with pytest.raises(IndexError):
        AVDataset(manifest)[5]


def test_item_seed_independent_of_global_rng(manifest):
    transform = T.Compose([T.ToFloatCTHW(), T.RandomCrop(8), lambda s: {**s, "np": float(np.random.rand())}])
    ds = AVDataset(manifest, sampler=UniformClipSampler(0.5, 1), fps=FPS, sample_rate=SR, transform=transform)
    torch.manual_seed(0)
    np.random.seed(0)
    a = ds[0]
    torch.manual_seed(123)
    np.random.seed(123)
    state, np_draw = torch.get_rng_state(), np.random.rand()
    np.random.seed(123)
    b = ds[0]
    assert torch.equal(a["video"], b["video"]) and a["np"] == b["np"]
    assert torch.equal(torch.get_rng_state(), state) and np.random.rand() == np_draw  # caller's RNGs untouched
