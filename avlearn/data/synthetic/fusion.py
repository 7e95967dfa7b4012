"""Audio-visual classes: clips whose class is in the motion, in the sound, in both, or in their timing.

A world for comparing audio-only, video-only, late-fusion and mid-fusion recognisers, the
comparison of Attention Bottlenecks for Multimodal Fusion (Nagrani et al., NeurIPS 2021,
Sec. 4: audio-only, visual-only, late fusion and bottleneck mid-fusion on AudioSet/VGGSound)
and of EPIC-Fusion's temporal binding (Kazakos et al., ICCV 2019, Sec. 3: modalities fused
within a temporal binding window). One sprite of random shape and colour (appearance carries
no class) performs a motion; its sound is synthesised on the motion's clock (impacts at the
events where it touches down or turns, a new note at each event, tone and texture loudness
swelling with the speed between events), so sound and motion stay in sync. Every motion and
sound draws its clock from the same distribution (:func:`timing`), so the sound's rhythm does
not reveal the motion nor the motion's rhythm the sound. The classes (:data:`~avlearn.data.synthetic.catalog.AV_CLASSES`):

- ``both`` (6 classes): motion and sound each name the class, but with probability
  :data:`CONFUSION` the clip shows its *video confuser*'s motion, and independently plays its
  *audio confuser*'s sound. Video confusions pair the classes (0, 1), (2, 3), (4, 5) and audio
  confusions (1, 2), (3, 4), (5, 0), so either modality alone is right about 70-85% of the time
  on them while the pair (motion, sound) names the class.
- ``audio`` (``slide_hiss``): moves exactly like ``slide_whoosh``; only the sound tells.
- ``video`` (``jump_hum``): sounds exactly like ``orbit_hum``; only the motion tells.
- ``sync`` (``tap_click_sync`` / ``tap_click_offbeat``): the same aperiodic small hops and the
  same clicks; in the offbeat class the clicks follow another, independent hop sequence. No
  single modality, and no late fusion of single-modality scores, separates them; a model that
  compares the two streams in time does.

A silent distractor sprite drifts in half of the clips; a room tone plays under every clip.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Iterable

import numpy as np

from avlearn.data.synthetic import render, sounds
from avlearn.data.synthetic.actors import wandering_distractor
from avlearn.data.synthetic.catalog import AV_CLASSES, COLOURS, SHAPES, object_class
from avlearn.data.synthetic.config import WorldConfig
from avlearn.data.synthetic.scene import Scene, Source, finish_scene

__all__ = ["generate_av_class", "timing", "motion_track", "voice", "CONFUSION", "MOTIONS", "INTERVAL"]

#: Probability that a ``both`` clip shows its video confuser's motion (and, independently,
#: plays its audio confuser's sound).
CONFUSION = 0.3
MOTIONS: tuple[str, ...] = ("hop", "slide", "orbit", "pulse", "shake", "zigzag", "jump", "tap")
_NAMES = [c.name for c in AV_CLASSES]
_HOPS = {"hop": 0.6, "jump": 1.6, "tap": 0.2}  # hop heights, in amplitudes per unit of interval length
#: Range of the intervals between events (s), shared by every motion.
INTERVAL = (0.25, 0.6)


def timing(rng: np.random.Generator, T: int, fps: float) -> dict[str, np.ndarray]:
    """When things happen, the same for every motion: aperiodic events and the swell between them.

    Intervals between events draw whole frames from :data:`INTERVAL`. Because every motion and
    every sound takes its timing from here, the sound's rhythm says nothing about which motion
    made it, and the motion's rhythm nothing about the sound: the class is only in *what* moves
    and *what* sounds.

    Args:
        rng: random generator.
        T: frames.
        fps: frame rate.

    Returns:
        ``events`` (frames), and (T,) arrays ``j`` (interval index, from 0), ``u`` (phase within
        the interval, in [0, 1), 0 on events), ``size`` (the interval's length over the longest)
        and ``drive`` (``sin(pi u)``: the speed or loudness swell, 0 on events).
    """
    lo, hi = max(2, int(round(INTERVAL[0] * fps))), max(3, int(round(INTERVAL[1] * fps)))
    lengths = rng.integers(lo, hi + 1, size=T // lo + 3)  # (J,) frames per interval
    starts = np.concatenate([[0], np.cumsum(lengths)]) - int(rng.integers(lengths[0]))  # (J+1,) event frames
    frames = np.arange(T)
    j = np.searchsorted(starts, frames, side="right") - 1  # (T,) current interval
    u = (frames - starts[j]) / lengths[j]  # (T,) phase in [0, 1)
    return {"events": frames[u == 0], "j": j, "u": u, "size": lengths[j] / hi, "drive": np.sin(np.pi * u)}


def motion_track(name: str, clock: dict[str, np.ndarray], rng: np.random.Generator, amp: float) -> dict[str, Any]:
    """Offsets of one motion pattern around the sprite's home, moving to the beat of ``clock``.

    Args:
        name: one of :data:`MOTIONS`.
        clock: a :func:`timing` draw.
        rng: random generator (the shake's jitter).
        amp: amplitude in pixels.

    Returns:
        ``dx, dy, scale, brightness`` (T,) arrays: offsets in pixels, size and brightness
        factors. Hops touch down (and squash to 0.85) on the events; slide, zigzag and orbit
        turn or pause on them; pulse is smallest on them; shake rests on them.

    Raises:
        ValueError: unknown motion.
    """
    j, u, size, swell = clock["j"], clock["u"], clock["size"], clock["drive"]
    T = len(u)
    side = np.where(j % 2 == 0, 1.0, -1.0)  # (T,) alternates every interval
    ease = 0.5 - 0.5 * np.cos(np.pi * u)  # (T,) 0 -> 1 with zero speed at both ends
    out = {"dx": np.zeros(T), "dy": np.zeros(T), "scale": np.ones(T), "brightness": np.ones(T)}
    if name in _HOPS:
        out["dy"] = -_HOPS[name] * amp * size * 4.0 * u * (1.0 - u)
        out["scale"] = np.where(u == 0, 0.85, 1.0)
    elif name == "slide":
        out["dx"] = amp * side * (1.0 - 2.0 * ease)
    elif name == "zigzag":
        out["dx"] = amp * side * (1.0 - 2.0 * u)  # constant speed, sharp turns
        out["dy"] = -0.5 * amp * (1.0 - np.abs(2.0 * u - 1.0))  # a peak halfway
    elif name == "orbit":
        angle = np.pi * (j + ease)
        out["dx"], out["dy"] = amp * np.sin(angle), 0.6 * amp * np.cos(angle)
    elif name == "pulse":
        out["scale"], out["brightness"] = 1.0 + 0.6 * swell, 0.8 + 0.3 * swell
    elif name == "shake":
        out["dx"] = 0.2 * amp * rng.choice([-1.0, 1.0], T) * swell
        out["dy"] = 0.1 * amp * rng.choice([-1.0, 1.0], T) * swell
    else:
        raise ValueError(f"unknown motion {name!r}; one of {MOTIONS}")
    return out


def voice(sound: str, rng: np.random.Generator, events: np.ndarray, drive: np.ndarray, fps: float,
          sample_rate: int, num_samples: int) -> np.ndarray:
    """A motion's sound: impacts at its event frames, or a tone or texture following its drive.

    Args:
        sound: an object sound class name (impacts, tones or textures family).
        rng: random generator.
        events: frames of the motion's events.
        drive: (T,) speed or loudness in [0, 1].
        fps, sample_rate: rates.
        num_samples: output length.

    Returns:
        float32 (num_samples,).
    """
    cls = object_class(sound)
    times = np.asarray(events, float) / fps
    if cls.family == "impacts":
        strengths = rng.uniform(0.7, 1.0, len(times))
        return sounds.impacts(cls, rng, times, strengths, sample_rate, num_samples, detune=rng.uniform(0.92, 1.08))
    gain = sounds.frames_to_samples(0.25 + 0.75 * np.asarray(drive), fps, sample_rate, num_samples)
    if cls.family == "tones":  # a new note (pitch in the class's range) at every event
        pitches = np.exp(rng.uniform(*np.log(cls.params["pitch"]), size=len(times) + 1))
        note = np.searchsorted(times * sample_rate, np.arange(num_samples), side="right")
        return sounds.tone(cls, pitches[note], sample_rate, rng.uniform(0, 6.3)) * gain
    return sounds.texture_noise(cls, rng, num_samples, sample_rate) * gain


def generate_av_class(config: WorldConfig, seed: int, *, hide: Iterable[str] = (), label: int | None = None) -> Scene:
    """One clip of the ``av_classes`` world.

    Args:
        config: a ``kind="av_classes"`` config.
        seed: the clip's seed.
        hide: source ids to leave out of the frames (``"s0"`` is the sprite).
        label: force this class (index into :data:`~avlearn.data.synthetic.catalog.AV_CLASSES`)
            instead of drawing it; everything else is drawn as usual. For examples and tests.

    Returns:
        The :class:`~avlearn.data.synthetic.scene.Scene`; the truth adds ``carrier``,
        ``motion``, ``sound``, ``motion_from``, ``sound_from`` and ``synchronous`` (see
        docs/world.md). Sources: ``s0`` the sprite, then the distractor if any, then the room
        tone (off-screen).

    Raises:
        ValueError: ``label`` out of range.
    """
    rng = np.random.default_rng(seed)
    T, N, fps, sr = config.num_frames, config.num_samples, config.fps, config.sample_rate
    H, W = config.size
    frame = (0, 0, W, H)
    background = render.make_background(rng, T, H, W)
    drawn = int(rng.integers(len(AV_CLASSES)))
    label = drawn if label is None else int(label)
    if not 0 <= label < len(AV_CLASSES):
        raise ValueError(f"generate_av_class: label must lie in [0, {len(AV_CLASSES)}), got {label}")
    cls = AV_CLASSES[label]
    shown, heard = cls, cls
    if cls.carrier == "both":
        if rng.random() < CONFUSION:
            shown = AV_CLASSES[_NAMES.index(cls.video_confuser)]
        if rng.random() < CONFUSION:
            heard = AV_CLASSES[_NAMES.index(cls.audio_confuser)]
    amp = 0.2 * min(H, W)
    radius = rng.uniform(0.09, 0.12) * min(H, W)
    clock = timing(rng, T, fps)
    track = motion_track(shown.motion, clock, rng, amp)
    cue = clock if cls.synchronous else timing(rng, T, fps)  # offbeat: the sound keeps another clock
    mono = voice(heard.sound, rng, cue["events"], cue["drive"], fps, sr, N)
    home_x = rng.uniform(0.4, 0.6) * W
    home_y = rng.uniform(0.45, 0.55) * H + (0.5 * amp if shown.motion in _HOPS else 0.0)  # hoppers stand lower
    cx, cy = home_x + track["dx"], home_y + track["dy"]
    sx = sy = radius * track["scale"]
    shape = SHAPES[int(rng.integers(len(SHAPES)))]
    colour = sorted(COLOURS)[int(rng.integers(len(COLOURS)))]
    rgb = np.clip(np.asarray(COLOURS[colour]) + rng.uniform(-0.06, 0.06, 3), 0, 1).astype(np.float32)
    alpha = render.shape_alpha(shape, cx, cy, sx, sy, frame)
    paint = render.shaded_colour(rgb, cx, cy, sx, sy, track["brightness"], frame)
    sprite = Source("s0", SimpleNamespace(name=cls.name, visual_class=f"{shape}_{colour}", family="av_classes"),
                    onscreen=True, sounding=True, track={"cx": cx, "cy": cy}, layers=[(alpha, paint)], region=frame,
                    outline=alpha, drive=cue["drive"], events=[round(float(e) / fps, 6) for e in cue["events"]],
                    mono=mono)
    sources = [sprite]
    if rng.random() < 0.5:
        sources.insert(0, wandering_distractor(rng, config, "s1"))  # drawn behind the sprite
    room = SimpleNamespace(name="room", visual_class=None, family="ambient")
    sources.append(Source(f"s{len(sources)}", room, onscreen=False, sounding=True, drive=np.ones(T, np.float32),
                          mono=sounds.band_noise(rng, N, sr, (40.0, 4000.0), -3.0), gain_db=rng.uniform(-24.0, -16.0)))
    extra = {"label": label, "label_name": cls.name, "labels": [label], "carrier": cls.carrier,
             "motion": shown.motion, "sound": heard.sound, "motion_from": _NAMES.index(shown.name),
             "sound_from": _NAMES.index(heard.name), "synchronous": cls.synchronous}
    scene = finish_scene(config, rng, background, sources, hide, _NAMES, extra)
    scene.truth["seed"] = int(seed)
    return scene
