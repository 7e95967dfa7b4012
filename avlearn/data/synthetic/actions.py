"""Long untrimmed action videos: labelled action segments separated by background.

The setting of audio-preview recognition and temporal action localization (Gao et al.,
"Listen to Look", CVPR 2020, Sec. 4.1, on untrimmed ActivityNet/Kinetics-style videos;
mAP at tIoU thresholds as in ActivityNet, Heilbron et al. CVPR 2015): one actor sprite
idles over a textured background with a faint room tone, and now and then performs an
action, a motion pattern with a class-typical sound (see
:data:`~avlearn.data.synthetic.catalog.ACTION_CLASSES`):

========  ==========================================  ===========================
action    motion (offsets from the actor's home)     sound
========  ==========================================  ===========================
bounce    hops, squash on each contact frame          a knock at each contact
tap       fast small hops                             a click at each contact
slide     side to side, ``dx = A sin(2 pi f t)``      whoosh, level = speed
orbit     an ellipse around home                      hum, pitch follows height
pulse     grows and brightens periodically            flute, loudness = size
shake     random jitter every frame                   rattle
jump      crouch, one high jump, land                 a thud on each landing
zigzag    triangle waves in x and y                   organ, a new note per turn
========  ==========================================  ===========================

Offsets fade in and out over 0.25 s so the actor never jumps. Segments start and end on
frame boundaries; the truth lists them as ``(start, end, label)`` in seconds. Each video has
a main class: a segment takes it with probability ``action_purity`` (another class
otherwise), and the video label is the class with the most segment time.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from avlearn.data.synthetic import motion, render, sounds
from avlearn.data.synthetic.catalog import ACTION_CLASSES, COLOURS, SHAPES, object_class
from avlearn.data.synthetic.config import WorldConfig
from avlearn.data.synthetic.scene import Scene, Source, finish_scene

__all__ = ["generate_actions", "action_pattern"]


def _unit_rms(x: np.ndarray, fps: float, sr: int) -> np.ndarray:
    fr = sounds.frame_rms(x, fps, sr, max(1, int(len(x) * fps / sr)))
    loud = fr[fr > 0.1 * fr.max()] if fr.max() > 0 else np.ones(1)
    return (x / (np.sqrt(np.mean(loud ** 2)) + 1e-12)).astype(np.float32)


def _hops(num: int, period: int, height: float) -> tuple[np.ndarray, np.ndarray]:
    u = np.mod(np.arange(num), period) / period
    return height * 4.0 * u * (1.0 - u), np.flatnonzero(u == 0)


def action_pattern(name: str, rng: np.random.Generator, num_frames: int, fps: float, sample_rate: int,
                   amp: float) -> dict[str, Any]:
    """One action's motion offsets and its sound, for a segment of ``num_frames`` frames.

    Args:
        name: action class name.
        rng: random generator.
        num_frames: segment length in frames.
        fps, sample_rate: rates.
        amp: motion amplitude in pixels.

    Returns:
        ``dx, dy, scale_x, scale_y, brightness, drive`` (T,) arrays, ``audio`` (N,) with unit
        RMS over its loud frames, and ``events`` (onset times within the segment, seconds).

    Raises:
        KeyError: unknown action.
    """
    act = next(a for a in ACTION_CLASSES if a.name == name)
    snd = object_class(act.sound)
    T = num_frames
    N = int(round(T * sample_rate / fps))
    t = np.arange(T) / fps
    ts = np.arange(N) / sample_rate
    rate = act.rate * rng.uniform(0.85, 1.15)
    zeros, ones = np.zeros(T, np.float32), np.ones(T, np.float32)
    out = {"dx": zeros.copy(), "dy": zeros.copy(), "scale_x": ones.copy(), "scale_y": ones.copy(),
           "brightness": ones.copy(), "drive": zeros.copy(), "events": []}
    if act.motion in ("bounce", "tap", "jump"):
        period = max(3, int(round(fps / rate)))
        height = {"bounce": 1.0, "tap": 0.3, "jump": 1.4}[act.motion] * amp
        lift, contacts = _hops(T, period, height)
        if act.motion == "jump":  # crouch before take-off: the frame after landing
            crouch = np.mod(np.arange(T), period) == period - 1
            out["scale_y"][crouch], out["scale_x"][crouch] = 0.8, 1.15
        out["dy"] = -lift
        out["scale_x"][contacts], out["scale_y"][contacts] = 1.2, 0.8
        times = contacts / fps
        out["audio"] = sounds.impacts(snd, rng, times, rng.uniform(0.7, 1.0, len(times)), sample_rate, N)
        out["drive"][contacts] = 1.0
        out["events"] = [round(float(x), 6) for x in times]
    elif act.motion in ("slide", "orbit", "pulse"):
        phase = 2 * np.pi * rate
        if act.motion == "slide":
            out["dx"] = amp * np.sin(phase * t)
            level = np.abs(np.cos(phase * t))  # speed, in units of its maximum
            out["drive"] = level.astype(np.float32)
            out["audio"] = sounds.texture_noise(snd, rng, N, sample_rate) * sounds.frames_to_samples(
                level, fps, sample_rate, N)
        elif act.motion == "orbit":
            out["dx"], out["dy"] = amp * np.sin(phase * t), 0.6 * amp * (np.cos(phase * t) - 1.0)
            pitch = snd.params["pitch"][0] * 1.5 * (1.0 - 0.15 * np.cos(phase * ts))
            out["drive"] = (0.5 - 0.5 * np.cos(phase * t)).astype(np.float32)
            out["audio"] = sounds.tone(snd, pitch, sample_rate)
        else:
            env = 0.5 - 0.5 * np.cos(phase * t)
            out["scale_x"] = out["scale_y"] = (1.0 + 0.6 * env).astype(np.float32)
            out["brightness"] = (0.8 + 0.3 * env).astype(np.float32)
            out["drive"] = env.astype(np.float32)
            pitch = np.full(N, np.exp(rng.uniform(*np.log(snd.params["pitch"]))))
            out["audio"] = sounds.tone(snd, pitch, sample_rate) * sounds.frames_to_samples(env, fps, sample_rate, N)
        out["events"] = [0.0]
    elif act.motion == "shake":
        out["dx"] = 0.15 * amp * rng.choice([-1.0, 1.0], T)
        out["dy"] = 0.08 * amp * rng.choice([-1.0, 1.0], T)
        out["drive"] = ones.copy()
        out["audio"] = sounds.texture_noise(snd, rng, N, sample_rate)
        out["events"] = [0.0]
    else:  # zigzag
        tri = 2.0 * np.abs(np.mod(rate * t + 0.25, 1.0) - 0.5) * 2.0 - 1.0  # (T,) in [-1, 1]
        out["dx"] = amp * tri
        out["dy"] = 0.4 * amp * (2.0 * np.abs(np.mod(2 * rate * t, 1.0) - 0.5) * 2.0 - 1.0)
        turns = np.concatenate([[0.0], (np.arange(0.25, rate * T / fps, 0.5)) / rate])
        notes = np.searchsorted(turns, ts, side="right") - 1
        scale = np.exp(rng.uniform(*np.log(snd.params["pitch"]), size=len(turns)))
        out["audio"] = sounds.tone(snd, scale[notes], sample_rate)
        out["drive"] = ones.copy()
        out["events"] = [round(float(x), 6) for x in turns]
    out["audio"] = _unit_rms(np.asarray(out["audio"], np.float32), fps, sample_rate)
    return out


def _timeline(rng: np.random.Generator, cfg: WorldConfig) -> list[tuple[int, int, int]]:
    """(start frame, end frame, label) of each segment, in order."""
    fps, total = cfg.fps, cfg.num_frames
    K = cfg.action_classes
    main = int(rng.integers(K))
    segs = []
    pos = int(round(rng.uniform(0.5, 2.5) * fps))
    while True:
        length = int(round(rng.uniform(2.0, 5.0) * fps))
        if pos + length > total - int(0.3 * fps):
            length = total - int(0.3 * fps) - pos
            if length < int(1.5 * fps):
                break
        other = (main + 1 + int(rng.integers(K - 1))) % K
        label = main if rng.random() < cfg.action_purity else other
        segs.append((pos, pos + length, label))
        pos += length + int(round(rng.uniform(1.0, 3.5) * fps))
    if not segs:  # a very short video: one segment in the middle
        a, b = total // 4, max(total // 4 + 1, 3 * total // 4)
        segs.append((a, b, main))
    return segs


def generate_actions(config: WorldConfig, seed: int, *, hide: Iterable[str] = ()) -> Scene:
    """One long untrimmed action video in memory.

    Args:
        config: a ``kind="actions"`` config.
        seed: the video's seed.
        hide: source ids to leave out of the frames (``"s0"`` is the actor).

    Returns:
        The :class:`~avlearn.data.synthetic.scene.Scene`; ``truth["segments"]`` lists
        ``{"start", "end", "start_frame", "end_frame", "label", "label_name", "events"}`` and
        ``truth["label"]`` is the video label. Sources: ``s0`` the actor, ``s1`` the room tone
        (off-screen).
    """
    rng = np.random.default_rng(seed)
    T, N, fps, sr = config.num_frames, config.num_samples, config.fps, config.sample_rate
    H, W = config.size
    names = [a.name for a in ACTION_CLASSES[: config.action_classes]]
    background = render.make_background(rng, T, H, W)
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour_name = sorted(COLOURS)[int(rng.integers(len(COLOURS)))]
    colour = np.clip(np.asarray(COLOURS[colour_name]) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32)
    radius = rng.uniform(0.09, 0.12) * min(H, W)
    amp = 0.22 * min(H, W)
    t = np.arange(T) / fps
    home_x = motion.fold(rng.uniform(0.35, 0.65) * W + rng.uniform(-0.03, 0.03) * W * t, 0.35 * W, 0.65 * W)
    home_y = np.full(T, rng.uniform(0.55, 0.65) * H)
    dx, dy = np.zeros(T), np.zeros(T)
    breath = 1.0 + 0.03 * np.sin(2 * np.pi * 0.4 * t)
    sx, sy, bright = breath.copy(), breath.copy(), np.ones(T)
    drive = np.zeros(T, np.float32)
    actor = np.zeros(N, np.float32)
    segments, events = [], []
    for f0, f1, label in _timeline(rng, config):
        pat = action_pattern(names[label], rng, f1 - f0, fps, sr, amp)
        n = f1 - f0
        fade = np.clip(np.minimum(np.arange(n) + 0.5, n - 0.5 - np.arange(n)) / (0.25 * fps), 0.0, 1.0)
        dx[f0:f1], dy[f0:f1] = pat["dx"] * fade, pat["dy"] * fade
        sx[f0:f1] *= pat["scale_x"]
        sy[f0:f1] *= pat["scale_y"]
        bright[f0:f1] = pat["brightness"]
        drive[f0:f1] = pat["drive"]
        s0 = int(round(f0 * sr / fps))
        seg_audio = pat["audio"][: N - s0]
        actor[s0 : s0 + len(seg_audio)] = seg_audio
        seg_events = [round(f0 / fps + e, 6) for e in pat["events"]]
        events += seg_events
        segments.append({"start": round(f0 / fps, 6), "end": round(f1 / fps, 6), "start_frame": f0,
                         "end_frame": f1, "label": label, "label_name": names[label], "events": seg_events})
    cx, cy = home_x + dx, home_y + dy
    scale_x, scale_y = radius * sx, radius * sy
    frame = (0, 0, W, H)
    alpha = render.shape_alpha(shape, cx, cy, scale_x, scale_y, frame)
    paint = render.shaded_colour(colour, cx, cy, scale_x, scale_y, bright, frame)
    actor_cls = SimpleNamespace(name="actor", visual_class=f"{shape}_{colour_name}", family="actions")
    room_cls = SimpleNamespace(name="room", visual_class=None, family="ambient")
    actor_src = Source("s0", actor_cls, onscreen=True, sounding=True, track={"cx": cx, "cy": cy},
                       layers=[(alpha, paint)], region=frame, outline=alpha, drive=drive, events=events, mono=actor)
    room = sounds.band_noise(rng, N, sr, (40.0, 4000.0), slope_db=-3.0)
    room_src = Source("s1", room_cls, onscreen=False, sounding=True, drive=np.ones(T, np.float32),
                      mono=room, gain_db=-20.0)
    time_per_label = np.zeros(config.action_classes)
    for s in segments:
        time_per_label[s["label"]] += s["end"] - s["start"]
    label = int(np.argmax(time_per_label))
    extra = {"label": label, "label_name": names[label], "labels": sorted({s["label"] for s in segments}),
             "segments": segments}
    scene = finish_scene(config, rng, background, [actor_src, room_src], hide, names, extra)
    scene.truth["seed"] = int(seed)
    return scene
