"""Several actors at once, each boxed in every frame and doing overlapping atomic actions.

The setting of spatio-temporal action detection in AVA (Gu et al., "AVA: A Video Dataset of
Spatio-temporally Localized Atomic Visual Actions", CVPR 2018, Sec. 3): people are boxed on
keyframes and every person carries a *set* of atomic action labels, one pose action and any
number of others at the same time, so a detector must localise each actor and classify it
multi-label. Here 2-4 stick-figure actors (feet, body, head, two hands) stand at different
depths (farther ones smaller and higher, drawn first, so they can be partly occluded) beside
silent distractor sprites, over a textured background with a faint room tone.

Each actor runs two independent action channels (see
:data:`~avlearn.data.synthetic.catalog.ACTOR_ACTIONS`):

========  ======  ================================================  ==================
action    group   motion                                            sound
========  ======  ================================================  ==================
stand     body    still, breathing (whenever no other body action)  none
walk      body    translates, feet lift alternately, body bobs      a thud per step
jump      body    crouch, leap, land (about 1.6 hops/s)             a knock per landing
crouch    body    body squashed low, head lowered                   none
wave      arms    one hand above the shoulder swinging sideways     whoosh, level = speed
clap      arms    both hands meet in front of the chest             a click per clap
raise     arms    both hands held above the head                    none
========  ======  ================================================  ==================

so an actor can e.g. walk and wave at once. Actions blend in and out over 0.15 s; a frame's
labels are the segments that hold it. Keyframes (:func:`keyframes`) fall every 0.5 s from
0.5 s to ``duration - 0.5`` s (AVA annotates at 1 Hz), leaving context on both sides.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Iterable

import numpy as np

from avlearn.data.synthetic import motion, render, sounds
from avlearn.data.synthetic.catalog import ACTOR_ACTIONS, COLOURS, SHAPES, SKINS, object_class
from avlearn.data.synthetic.config import WorldConfig
from avlearn.data.synthetic.scene import Scene, Source, finish_scene

__all__ = ["generate_actors", "keyframes", "wandering_distractor", "KEYFRAME_STEP"]

#: Seconds between keyframes (the first at this time, the last ``KEYFRAME_STEP`` before the end).
KEYFRAME_STEP = 0.5
_FADE = 0.15  # seconds over which an action blends in and out
_NAMES = [a.name for a in ACTOR_ACTIONS]
_BODY = [i for i, a in enumerate(ACTOR_ACTIONS) if a.group == "body" and a.name != "stand"]
_ARMS = [i for i, a in enumerate(ACTOR_ACTIONS) if a.group == "arms"]
_STAND = _NAMES.index("stand")


def keyframes(num_frames: int, fps: float, step: float = KEYFRAME_STEP) -> list[int]:
    """The keyframes of a clip: frames at ``step, 2 step, ...`` up to ``duration - step``.

    Args:
        num_frames: frames in the clip.
        fps: frame rate.
        step: seconds between keyframes.

    Returns:
        Sorted frame indices; the middle frame when the clip is shorter than ``2 * step``.
    """
    duration = num_frames / fps
    times = np.arange(step, duration - step + 1e-9, step)
    frames = sorted({int(round(t * fps)) for t in times if round(t * fps) < num_frames})
    return frames or [num_frames // 2]


def _channel(rng: np.random.Generator, T: int, fps: float, choices: list[int], rest: tuple[float, float],
             act: tuple[float, float]) -> list[tuple[int, int, int, int, int]]:
    """Action segments ``(f0, f1, label, origin, end)`` of one channel, cut to ``[0, T)``.

    ``origin <= f0`` and ``end >= f1`` are the segment's uncut start and end frames (where it
    blends in and out).
    """
    segs = []
    if rng.random() < 0.5:  # already busy when the clip starts
        pos = -int(rng.integers(0, int(act[1] * fps)))
    else:
        pos = int(round(rng.uniform(*rest) * fps))
    while pos < T:
        length = int(round(rng.uniform(*act) * fps))
        label = choices[int(rng.integers(len(choices)))]
        f0, f1 = max(0, pos), min(T, pos + length)
        if f1 - f0 >= max(2, int(round(0.3 * fps))):
            segs.append((f0, f1, label, pos, pos + length))
        pos += length + int(round(rng.uniform(*rest) * fps))
    return segs


def _weight(T: int, fps: float, f0: int, f1: int, origin: int, end: int) -> np.ndarray:
    """(T,) blend weight of a segment: 0 outside ``[f0, f1)``, ramps of ``_FADE`` s at its uncut ends."""
    i = np.arange(T, dtype=np.float64)
    w = np.clip(np.minimum(i - origin + 0.5, end - 0.5 - i) / (_FADE * fps), 0.0, 1.0)
    w[:f0], w[f1:] = 0.0, 0.0
    return w


def _actor(rng: np.random.Generator, cfg: WorldConfig, home: float, h: float,
           ) -> tuple[dict[str, np.ndarray], list[tuple[int, int, int, int, int]], np.ndarray, list[tuple[str, float, float]]]:
    """Pose per frame, segments, per-frame labels (T, K) and sound cues of one actor.

    Returns:
        ``pose`` (T,) arrays (root ``x``, ``lift``, ``crouch``, foot lifts ``lf``/``rf``, hand
        offsets ``hlx, hly, hrx, hry`` from the root in units of ``h``, ``wave_speed``),
        the segments, the labels as a bool (T, K) array, and sound cues
        ``(kind, time s, strength)`` for impacts.
    """
    T, fps, W = cfg.num_frames, cfg.fps, cfg.width
    t = np.arange(T) / fps
    body = _channel(rng, T, fps, _BODY, rest=(0.3, 1.2), act=(1.0, 2.5))
    arms = _channel(rng, T, fps, _ARMS, rest=(0.3, 1.5), act=(0.8, 2.0))
    labels = np.zeros((T, len(ACTOR_ACTIONS)), bool)
    velocity, lift = np.zeros(T), 0.01 * h * np.sin(2 * np.pi * rng.uniform(0.3, 0.5) * t)  # breathing
    crouch, lf, rf = np.zeros(T), np.zeros(T), np.zeros(T)
    # hands relative to the root, in units of h (x right, y up); rest: hanging at the sides
    hlx, hrx, hly, hry = np.full(T, -0.2), np.full(T, 0.2), np.full(T, 0.36), np.full(T, 0.36)
    wave_speed = np.zeros(T)
    cues: list[tuple[str, float, float]] = []
    direction = 1.0 if rng.random() < 0.5 else -1.0
    for f0, f1, label, origin, end in body + arms:
        name = _NAMES[label]
        labels[f0:f1, label] = True
        w = _weight(T, fps, f0, f1, origin, end)  # (T,)
        rate = ACTOR_ACTIONS[label].rate * rng.uniform(0.85, 1.15)
        u = t - origin / fps  # (T,) seconds since the action began
        mine: list[tuple[str, float, float]] = []
        if name == "walk":
            direction = -direction if rng.random() < 0.5 else direction
            velocity += direction * rng.uniform(0.7, 1.1) * h * w  # pixels per second
            step = np.sin(np.pi * rate * u)
            lf += 0.07 * h * np.maximum(step, 0) * w
            rf += 0.07 * h * np.maximum(-step, 0) * w
            lift += 0.03 * h * np.abs(step) * w
            mine = [("walk", float(origin / fps + k / rate), 0.5) for k in range(1, int(u[-1] * rate) + 1)]
        elif name == "jump":
            period = 1.0 / rate
            phase = np.mod(u, period) / period  # (T,) in [0, 1): crouch on the ground, then flight
            ground = phase < 0.3
            v = (phase - 0.3) / 0.7
            lift += np.where(ground, 0.0, 0.32 * h * 4 * v * (1 - v)) * w
            crouch += np.where(ground, 0.6 * np.sin(np.pi * phase / 0.3), 0.0) * w
            mine = [("jump", float(origin / fps + k * period), 1.0) for k in range(1, int(u[-1] / period) + 1)]
        elif name == "crouch":
            crouch += w
        elif name == "wave":
            side = 1.0 if rng.random() < 0.5 else -1.0
            swing = np.sin(2 * np.pi * rate * u)
            hx, hy = side * (0.24 + 0.1 * swing), 0.95 + 0.03 * np.cos(4 * np.pi * rate * u)
            if side > 0:
                hrx, hry = hrx + (hx - hrx) * w, hry + (hy - hry) * w
            else:
                hlx, hly = hlx + (hx - hlx) * w, hly + (hy - hly) * w
            wave_speed += np.abs(np.cos(2 * np.pi * rate * u)) * w
        elif name == "clap":
            gap = 0.035 + 0.13 * (0.5 + 0.5 * np.cos(2 * np.pi * rate * u))
            hlx, hrx = hlx + (-gap - hlx) * w, hrx + (gap - hrx) * w
            hly, hry = hly + (0.58 - hly) * w, hry + (0.58 - hry) * w
            mine = [("clap", float(origin / fps + (k + 0.5) / rate), 0.8) for k in range(int(u[-1] * rate + 0.5))]
        else:  # raise
            hlx, hrx = hlx + (-0.16 - hlx) * w, hrx + (0.16 - hrx) * w
            hly, hry = hly + (1.02 - hly) * w, hry + (1.02 - hry) * w
        # this segment's steps, landings or claps: inside it, where it is more than half on
        cues += [c for c in mine if f0 / fps <= c[1] < f1 / fps and w[min(T - 1, int(round(c[1] * fps)))] > 0.5]
    labels[~labels[:, _BODY].any(axis=1), _STAND] = True
    margin = 0.3 * h
    x = motion.fold(home + np.concatenate([[0.0], np.cumsum(velocity[:-1]) / fps]), margin, W - margin)
    pose = {"x": x, "lift": lift, "crouch": np.clip(crouch, 0.0, 1.0), "lf": lf, "rf": rf,
            "hlx": hlx, "hly": hly, "hrx": hrx, "hry": hry, "wave_speed": wave_speed}
    return pose, body + arms, labels, cues


def _layers(pose: dict[str, np.ndarray], floor: float, h: float, body_rgb: np.ndarray, skin_rgb: np.ndarray,
            frame: render.Region) -> list[tuple[np.ndarray, np.ndarray]]:
    """Feet, body, head and hands as ``(alpha (T, H, W), colour)`` layers, back to front."""
    x, c = pose["x"], pose["crouch"]
    base = floor - pose["lift"]  # (T,) the feet's bottom edge
    sy_body = 0.26 * h * (1.0 - 0.35 * c)
    body_cy = base - 0.10 * h - sy_body
    head_cy = base - 0.10 * h - 2 * sy_body - 0.10 * h
    ones = np.ones_like(x)
    bright = ones

    def part(shape: str, cx: np.ndarray, cy: np.ndarray, sx: np.ndarray, sy: np.ndarray, rgb: np.ndarray):
        alpha = render.shape_alpha(shape, cx, cy, sx, sy, frame)
        return alpha, render.shaded_colour(rgb, cx, cy, sx, sy, bright, frame)

    dark = np.array([0.12, 0.1, 0.1], np.float32)
    feet = [part("circle", x + s * 0.07 * h, base - 0.035 * h - lift, 0.065 * h * ones, 0.035 * h * ones, dark)
            for s, lift in ((-1, pose["lf"]), (1, pose["rf"]))]
    body = part("circle", x, body_cy, 0.14 * h * ones, sy_body, body_rgb)
    head = part("circle", x, head_cy, 0.1 * h * ones, 0.1 * h * ones, skin_rgb)
    shrink = (1.0 - 0.3 * c) * h  # hands come down with a crouch
    hands = [part("circle", x + hx * h, base - hy * shrink, 0.055 * h * ones, 0.055 * h * ones, skin_rgb)
             for hx, hy in ((pose["hlx"], pose["hly"]), (pose["hrx"], pose["hry"]))]
    return [*feet, body, head, *hands]


def _voice(rng: np.random.Generator, cfg: WorldConfig, cues: list[tuple[str, float, float]],
           wave_speed: np.ndarray) -> np.ndarray | None:
    """One actor's sound: impacts at its steps, landings and claps; a whoosh while waving."""
    N, sr, fps = cfg.num_samples, cfg.sample_rate, cfg.fps
    out = np.zeros(N, np.float32)
    for name in ("walk", "jump", "clap"):
        times = np.array([c[1] for c in cues if c[0] == name])
        if len(times):
            snd = object_class(next(a.sound for a in ACTOR_ACTIONS if a.name == name))
            strengths = np.array([c[2] for c in cues if c[0] == name]) * rng.uniform(0.8, 1.0, len(times))
            out += sounds.impacts(snd, rng, times, strengths, sr, N, detune=rng.uniform(0.92, 1.08))
    if wave_speed.max() > 0:
        whoosh = sounds.texture_noise(object_class("whoosh"), rng, N, sr)
        out += 0.25 * whoosh * sounds.frames_to_samples(wave_speed, fps, sr, N)
    return out if np.abs(out).max() > 0 else None


def wandering_distractor(rng: np.random.Generator, config: WorldConfig, sid: str) -> Source:
    """A silent sprite of random shape and colour drifting over the whole frame now and then.

    Args:
        rng: random generator.
        config: the world config (frame size, frames, fps).
        sid: its source id.

    Returns:
        The :class:`~avlearn.data.synthetic.scene.Source` (on screen, silent).
    """
    T, fps, (H, W) = config.num_frames, config.fps, config.size
    frame = (0, 0, W, H)
    radius = rng.uniform(0.05, 0.09) * min(H, W)
    env, _ = motion.note_envelope(rng, T, fps, tremolo=False)
    tr = motion.wander(rng, T, fps, (0.0, 0.0, float(W), float(H)), radius, 0.25 * env)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = sorted(COLOURS)[int(rng.integers(len(COLOURS)))]
    rgb = np.clip(np.asarray(COLOURS[colour]) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32)
    alpha = render.shape_alpha(shape, tr["cx"], tr["cy"], tr["sx"], tr["sy"], frame)
    paint = render.shaded_colour(rgb, tr["cx"], tr["cy"], tr["sx"], tr["sy"], tr["brightness"], frame)
    cls = SimpleNamespace(name="distractor", visual_class=f"{shape}_{colour}", family="none")
    return Source(sid, cls, onscreen=True, sounding=False, track=tr, layers=[(alpha, paint)], region=frame,
                  outline=alpha, drive=np.zeros(T, np.float32))


def generate_actors(config: WorldConfig, seed: int, *, hide: Iterable[str] = ()) -> Scene:
    """One clip of 2-4 actors with overlapping atomic actions, plus silent distractors.

    Args:
        config: a ``kind="actors"`` config (``max_objects`` caps the actors; at least 2).
        seed: the clip's seed.
        hide: source ids to leave out of the frames.

    Returns:
        The :class:`~avlearn.data.synthetic.scene.Scene`. Sources: actors ``s0..s{n-1}``
        (farthest first), then the distractors, then the room tone (off-screen). The truth adds
        ``actors`` (``{id, boxes, actions, segments}`` per actor), ``keyframes`` and
        ``distractor_ids``; see docs/world.md.
    """
    rng = np.random.default_rng(seed)
    T, N, fps = config.num_frames, config.num_samples, config.fps
    H, W = config.size
    frame = (0, 0, W, H)
    background = render.make_background(rng, T, H, W)
    count = int(rng.integers(max(2, config.min_objects), max(2, config.max_objects) + 1))
    floors = np.sort(rng.uniform(0.74, 0.97, count) * H)  # far (high, small) to near
    slots = (np.arange(count) + rng.uniform(0.3, 0.7, count)) / count * W  # spread out, may overlap
    homes = rng.permutation(slots)
    body_colours = rng.choice(sorted(COLOURS), size=count, replace=False)
    actors, truth_actions = [], []
    for k in range(count):
        h = 0.5 * floors[k] * rng.uniform(0.9, 1.05)  # actor height scale (head top about 0.96 h up)
        pose, segs, labels, cues = _actor(rng, config, float(homes[k]), h)
        body_rgb = np.clip(np.asarray(COLOURS[body_colours[k]]) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32)
        skin_rgb = np.asarray(list(SKINS.values())[int(rng.integers(len(SKINS)))], np.float32)
        layers = _layers(pose, float(floors[k]), h, body_rgb, skin_rgb, frame)
        mono = _voice(rng, config, cues, pose["wave_speed"])
        cls = SimpleNamespace(name="actor", visual_class=f"actor_{body_colours[k]}", family="actors")
        src = Source(f"s{k}", cls, onscreen=True, sounding=mono is not None, track={"cx": pose["x"]},
                     layers=layers, region=frame, outline=np.max(np.stack([a for a, _ in layers]), axis=0),
                     drive=labels[:, _BODY + _ARMS].any(axis=1).astype(np.float32),
                     events=sorted(round(c[1], 6) for c in cues), mono=mono)
        actors.append(src)
        truth_actions.append((labels, segs))
    distractors = [wandering_distractor(rng, config, f"s{count + j}") for j in range(int(rng.integers(1, 3)))]
    room_cls = SimpleNamespace(name="room", visual_class=None, family="ambient")
    room = Source(f"s{count + len(distractors)}", room_cls, onscreen=False, sounding=True,
                  drive=np.ones(T, np.float32), mono=sounds.band_noise(rng, N, config.sample_rate, (40.0, 4000.0), -3.0),
                  gain_db=-20.0)
    frames_per_label = np.sum([lab.sum(axis=0) for lab, _ in truth_actions], axis=0)  # (K,)
    busy = frames_per_label.copy()
    busy[_STAND] = 0
    label = int(np.argmax(busy)) if busy.max() > 0 else _STAND
    extra = {"label": label, "label_name": _NAMES[label], "labels": [int(i) for i in np.flatnonzero(frames_per_label)],
             "keyframes": keyframes(T, fps), "distractor_ids": [d.id for d in distractors]}
    scene = finish_scene(config, rng, background, distractors + actors + [room], hide, _NAMES, extra)
    entries = {s["id"]: s for s in scene.truth["sources"]}
    truth_actors = []
    for src, (labels, segs) in zip(actors, truth_actions):
        entries[src.id]["distractor"] = False  # a silent actor is still an actor
        truth_actors.append({
            "id": src.id, "boxes": entries[src.id]["boxes"],
            "actions": [[int(i) for i in np.flatnonzero(row)] for row in labels],
            "segments": [{"label": int(lab), "label_name": _NAMES[lab], "group": ACTOR_ACTIONS[lab].group,
                          "start": round(f0 / fps, 6), "end": round(f1 / fps, 6), "start_frame": int(f0),
                          "end_frame": int(f1)} for f0, f1, lab, _, _ in sorted(segs)],
        })
    scene.truth["actors"] = truth_actors
    scene.truth["seed"] = int(seed)
    return scene
