"""Scenes of the ``objects`` and ``speakers`` worlds: sprites whose sounds they visibly make.

:func:`generate_clip` draws a scene from a :class:`~avlearn.data.synthetic.config.WorldConfig`
and a seed: 1-4 visible objects in disjoint cells of a textured, noisy background, each with a
sound class tied to its look (impacts bounce, tones pulse, textures move, faces talk), some of
them silent distractors, and sometimes one off-screen sound. It returns a :class:`Scene`:
the frames, the mixture, one stem per sounding source and the ground truth.

Mixing follows Sound of Pixels (Zhao et al. ECCV 2018, Sec. 3.1): stems are set to a level
(RMS over their active frames, +-3 dB around -20 dBFS), the mixture is their sum, and all stems
are scaled together when the mixture would clip. Stems are rounded to the 16-bit grid before
summing, so the lossless FLAC stems on disk decode to exactly the arrays that summed to the
mixture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from avlearn.data.synthetic import motion, render, sounds
from avlearn.data.synthetic.catalog import COLOURS, OBJECT_CLASSES, SPEAKERS, SoundClass, Speaker, classes_for
from avlearn.data.synthetic.config import WorldConfig
from avlearn.data.synthetic.speech import mouth_opening, synthesize_speech

__all__ = ["Scene", "Source", "generate_scene", "finish_scene"]


@dataclass
class Source:
    """One source of a scene while it is being built (visible object or off-screen sound).

    Attributes:
        id: ``"s<k>"``.
        cls: its sound class (an object class or a speaker).
        onscreen: drawn in the frames.
        sounding: makes sound (silent distractors do not).
        track: per-frame arrays from :mod:`avlearn.data.synthetic.motion` (empty off-screen).
        layers: ``(alpha (T, H, W), colour)`` pairs to composite, in order.
        region: the pixels its layers cover, ``(x0, y0, x1, y1)``.
        outline: (T, h, w) coverage over ``region`` whose pixels the source's boxes enclose.
        drive: (T,) what the sound follows (loudness, speed level or mouth opening).
        events: onset times in seconds (contacts, note, motion or syllable onsets).
        mono: (N,) the sound before level setting, or None for silent sources.
        extra: per-source truth fields (e.g. ``mouth_boxes``, ``speed``).
        gain_db: level offset of this source relative to the others.
    """

    id: str
    cls: Any
    onscreen: bool
    sounding: bool
    track: dict[str, np.ndarray] = field(default_factory=dict)
    layers: list[tuple[np.ndarray, Any]] = field(default_factory=list)
    region: render.Region = (0, 0, 0, 0)
    outline: np.ndarray | None = None
    drive: np.ndarray | None = None
    events: list[float] = field(default_factory=list)
    mono: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    gain_db: float = 0.0


@dataclass
class Scene:
    """A generated clip held in memory.

    Attributes:
        video: uint8 (T, H, W, 3) frames.
        audio: float32 (C, N) mixture, exactly the sum of ``stems``.
        stems: source id -> float32 (C, N), one per sounding source (on- or off-screen).
        truth: the ground truth, the dict written as ``truth/<id>.json`` (see docs/world.md).
    """

    video: np.ndarray
    audio: np.ndarray
    stems: dict[str, np.ndarray]
    truth: dict[str, Any]


def _rng_colour(rng: np.random.Generator, name: str) -> np.ndarray:
    return np.clip(np.asarray(COLOURS[name]) + rng.uniform(-0.06, 0.06, size=3), 0.0, 1.0).astype(np.float32)


def _pick_classes(rng: np.random.Generator, families: tuple[str, ...], count: int) -> list[Any]:
    """``count`` distinct classes: a family uniformly, then an unused class of it."""
    pools: dict[str, list[Any]] = {f: [c for c in OBJECT_CLASSES if c.family == f] for f in families}
    if "speakers" in families:
        pools["speakers"] = list(SPEAKERS)
    chosen: list[Any] = []
    for _ in range(count):
        open_families = [f for f in families if any(c not in chosen for c in pools[f])]
        fam = open_families[int(rng.integers(len(open_families)))] if open_families else families[0]
        options = [c for c in pools[fam] if c not in chosen] or pools[fam]
        chosen.append(options[int(rng.integers(len(options)))])
    return chosen


def _object_source(rng: np.random.Generator, cfg: WorldConfig, sid: str, cls: SoundClass | Speaker,
                   cell: motion.Cell | None, sounding: bool) -> Source:
    """Motion, layers and sound of one source; ``cell`` None makes it off-screen."""
    T, N, fps, sr = cfg.num_frames, cfg.num_samples, cfg.fps, cfg.sample_rate
    H, W = cfg.size
    src = Source(sid, cls, onscreen=cell is not None, sounding=sounding)
    short = min(cell[2] - cell[0], cell[3] - cell[1]) if cell is not None else float(min(H, W))
    if cell is not None:
        src.region = render.region_of(cell, H, W)
    if cls.family == "speakers":
        speech = synthesize_speech(cls, rng, N, sr)
        src.drive = mouth_opening(speech.envelope, fps, sr, T)
        src.events, src.mono = speech.onsets, speech.audio
        if cell is not None:
            half_h = rng.uniform(0.32, 0.4) * short
            tr = motion.head(rng, T, fps, cell, half_h, cls.width)
            layers, mouth = render.face_layers(tr["cx"], tr["cy"], tr["sx"], tr["sy"], src.drive, tr["blink"],
                                               cls.skin_rgb, cls.hair_rgb, src.region)
            src.track, src.layers = tr, layers
            src.outline = np.maximum(layers[0][0], layers[1][0])  # head and hair
            src.extra["mouth_boxes"] = render.boxes_from_alpha(mouth, src.region)
        return src
    radius = rng.uniform(0.15, 0.2) * short
    p = cls.params
    if cls.family == "impacts":
        if cell is not None:
            tr = motion.bounce(rng, T, fps, cell, radius)
            times, strengths = tr["contacts"] / fps, tr["strengths"]
        else:
            times = np.cumsum(rng.uniform(0.25, 0.7, size=int(cfg.duration / 0.25) + 1))
            times = np.floor(times[times < cfg.duration] * fps) / fps  # on frames
            strengths, tr = rng.uniform(0.5, 1.0, size=len(times)), {}
        src.mono = sounds.impacts(cls, rng, times, strengths, sr, N, detune=rng.uniform(0.92, 1.08))
        src.events = [round(float(t), 6) for t in times]
        src.drive = np.zeros(T, np.float32)
        src.drive[np.round(np.asarray(times) * fps).astype(int)] = strengths
    else:
        env, src.events = motion.note_envelope(rng, T, fps, tremolo=cls.family == "tones")
        src.drive = env
        gain = sounds.frames_to_samples(env, fps, sr, N)
        if cls.family == "tones":
            lo, hi = p["pitch"]
            pitches = np.exp(rng.uniform(np.log(lo), np.log(hi), size=len(src.events) + 1))
            note = np.searchsorted(np.asarray(src.events) * sr, np.arange(N), side="right")
            src.mono = sounds.tone(cls, pitches[note], sr, rng.uniform(0, 6.3)) * gain
            tr = motion.pulse(rng, T, fps, cell, radius, env) if cell is not None else {}
        else:
            src.mono = sounds.texture_noise(cls, rng, N, sr) * gain
            tr = motion.wander(rng, T, fps, cell, radius, env) if cell is not None else {}
            if cell is not None:
                src.extra["speed"] = tr["speed"]
    if cell is not None:
        alpha = render.shape_alpha(cls.shape, tr["cx"], tr["cy"], tr["sx"], tr["sy"], src.region)
        colour = render.shaded_colour(_rng_colour(rng, cls.colour), tr["cx"], tr["cy"], tr["sx"], tr["sy"],
                                      tr["brightness"], src.region)
        src.track, src.layers, src.outline = tr, [(alpha, colour)], alpha
    return src


def finish_scene(cfg: WorldConfig, rng: np.random.Generator, background: np.ndarray, sources: list[Source],
                 hide: Iterable[str], labels: list[str], extra: dict[str, Any]) -> Scene:
    """Mix, render and write the truth of a built scene (shared by every kind of world).

    Args:
        cfg: the world config.
        rng: random generator (levels and off-screen pans).
        background: float32 (T, H, W, 3).
        sources: the scene's sources; their ``layers`` are drawn in order.
        hide: source ids left out of the frames (their sound stays): renders an object "alone"
            by difference, for tests and visualisation.
        labels: the world's label space (class names).
        extra: top-level truth fields to add (e.g. ``segments``).

    Returns:
        The finished :class:`Scene`.
    """
    T, N, fps, sr, C = cfg.num_frames, cfg.num_samples, cfg.fps, cfg.sample_rate, cfg.channels
    H, W = cfg.size
    hidden = set(hide)
    canvas = background
    for src in sources:
        if src.onscreen and src.id not in hidden:
            for alpha, colour in src.layers:
                render.composite(canvas, alpha, colour, src.region)
    stems: dict[str, np.ndarray] = {}
    for src in sources:
        level_db = rng.uniform(-3.0, 3.0) + src.gain_db
        if src.sounding:
            x = src.mono
            fr = sounds.frame_rms(x, fps, sr, T)
            loud = fr[fr > 0.1 * fr.max()] if fr.max() > 0 else np.ones(1)
            x = x * (0.1 * 10 ** (level_db / 20) / (np.sqrt(np.mean(loud ** 2)) + 1e-12))
            if src.onscreen:
                where = sounds.frames_to_samples(src.track["cx"] / W, fps, sr, N)
            else:
                where = np.full(N, rng.uniform(0.0, 1.0), np.float32)
            stems[src.id] = sounds.pan(x.astype(np.float32), where, C)
    peak = np.abs(sum(stems.values())).max() if stems else 0.0
    scale = 0.9 / peak if peak > 0.9 else 1.0
    for sid in stems:  # onto the 16-bit grid, so the FLAC stems are exact
        stems[sid] = (np.clip(np.round(stems[sid] * scale * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)
    audio = np.zeros((C, N), np.float32)
    for s in stems.values():
        audio += s
    truth_sources = []
    for src in sources:
        boxes = render.boxes_from_alpha(src.outline, src.region) if src.onscreen else None
        level = sounds.frame_rms(stems[src.id], fps, sr, T) if src.sounding else np.zeros(T, np.float32)
        active = (level > max(0.1 * float(level.max()), 1e-4)) if src.sounding else np.zeros(T, bool)
        label = labels.index(src.cls.name) if src.cls.name in labels else -1
        entry = {
            "id": src.id, "visual_class": src.cls.visual_class, "sound_class": src.cls.name,
            "sound_family": src.cls.family, "label": label, "onscreen": src.onscreen, "sounding": src.sounding,
            "distractor": src.onscreen and not src.sounding,
            "boxes": _boxes_json(boxes) if boxes is not None else None,
            "active": active.astype(int).tolist(), "level": _floats(level), "drive": _floats(src.drive),
            "events": src.events,
        }
        for key, value in src.extra.items():
            entry[key] = _boxes_json(value) if key.endswith("boxes") else (
                _floats(value) if isinstance(value, np.ndarray) else value)
        truth_sources.append(entry)
    truth = {
        "kind": cfg.kind, "fps": cfg.fps, "sample_rate": sr, "duration": cfg.duration, "num_frames": T,
        "num_samples": N, "size": [H, W], "channels": C, "sources": truth_sources,
        "num_sources": len(stems), "num_onscreen": sum(1 for s in sources if s.onscreen and s.sounding),
    }
    truth.update(extra)
    return Scene(render.to_uint8(canvas), audio, stems, truth)


def _floats(x: np.ndarray | None) -> list[float] | None:
    return None if x is None else [round(float(v), 4) for v in x]


def _boxes_json(boxes: np.ndarray) -> list[list[float] | None]:
    return [None if np.isnan(b[0]) else [float(v) for v in b] for b in boxes]


def generate_scene(config: WorldConfig, seed: int, *, hide: Iterable[str] = ()) -> Scene:
    """Generate one clip of an objects, instruments or speakers world in memory (the same
    config and seed give identical arrays); :func:`avlearn.data.synthetic.generate.generate_clip`
    picks this or the actions generator by ``config.kind``.

    Args:
        config: the world config.
        seed: the clip's seed.
        hide: ids of sources to leave out of the frames (their sound and truth stay).

    Returns:
        The :class:`Scene` (video, mixture, stems, truth).
    """
    if config.kind in ("actions", "actors", "av_classes"):
        raise ValueError(f"generate_scene: a {config.kind!r} world has its own generator (avlearn.data.synthetic.generate.generate_clip picks it)")
    rng = np.random.default_rng(seed)
    T, (H, W) = config.num_frames, config.size
    background = render.make_background(rng, T, H, W)
    count = int(rng.integers(config.min_objects, config.max_objects + 1))
    cells = motion.layout(rng, count, H, W)
    offscreen = (not config.solo) and rng.random() < config.offscreen_rate
    classes = _pick_classes(rng, config.families, count + int(offscreen))
    sources = []
    for k in range(count + int(offscreen)):
        visible = k < count
        sounding = k == 0 or (not config.solo and (not visible or rng.random() >= config.distractor_rate))
        sources.append(_object_source(rng, config, f"s{k}", classes[k], cells[k] if visible else None, sounding))
    labels = classes_for(config.kind, config.families)
    first = sources[0]
    extra = {"label": labels.index(first.cls.name), "label_name": first.cls.name,
             "labels": sorted({labels.index(s.cls.name) for s in sources if s.sounding})}
    scene = finish_scene(config, rng, background, sources, hide, labels, extra)
    scene.truth["seed"] = int(seed)
    return scene
