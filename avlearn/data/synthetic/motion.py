"""Per-frame motion of the world's objects, each tied to what its sound does.

A track is a set of (T,) arrays: centre ``cx, cy``, half sizes ``sx, sy`` and ``brightness``
(plus the ``drive`` that the sound follows and the frames of visual events). The motions:

- :func:`bounce` (impacts): piecewise-parabolic hops ``y = h_j 4u(1 - u)`` with ``u`` the
  phase within hop ``j``, whose period ``P_j`` (whole frames, drawn per hop from
  :data:`BOUNCE_PERIOD`) sets its height ``h_j ~ P_j^2`` as in a free fall; every contact falls
  exactly on a frame and is as loud as the fall before it (``sqrt(h)``). Hops are aperiodic
  on purpose: a strictly periodic impact train makes audio-visual offsets of a whole period
  indistinguishable. The sprite squashes (1.2 x 0.8) on its contact frame. Horizontal drift
  reflects off the cell.
- :func:`pulse` (tones): the sprite grows and brightens with the loudness envelope,
  ``s = r (1 + 0.45 e)``, ``b = 0.75 + 0.35 e``, while drifting slowly.
- :func:`wander` (textures): the speed is ``v_max e(t)``, the heading a random walk; positions
  integrate the velocity and fold back into the cell (folding keeps the speed).
- :func:`head` (speakers): a face swaying slightly and blinking now and then.

:func:`note_envelope` draws the on/off envelopes (attack, tremolo, release) that drive tones,
texture levels and off-screen sounds.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BOUNCE_PERIOD", "Cell", "note_envelope", "fold", "bounce", "pulse", "wander", "head", "layout"]

Cell = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels

#: Range of one hop's duration in seconds (each hop draws its own).
BOUNCE_PERIOD = (0.3, 0.85)


def layout(rng: np.random.Generator, count: int, height: int, width: int) -> list[Cell]:
    """Disjoint cells, one per object: the whole frame, two halves, or quadrants.

    Args:
        rng: random generator (the order of the cells).
        count: number of objects (1 to 4).
        height, width: frame size.

    Returns:
        ``count`` cells ``(x0, y0, x1, y1)``.
    """
    if count == 1:
        return [(0.0, 0.0, float(width), float(height))]
    if count == 2:
        cells = [(0.0, 0.0, width / 2, float(height)), (width / 2, 0.0, float(width), float(height))]
    else:
        hw, hh = width / 2, height / 2
        cells = [(0.0, 0.0, hw, hh), (hw, 0.0, float(width), hh), (0.0, hh, hw, float(height)),
                 (hw, hh, float(width), float(height))]
    order = rng.permutation(len(cells))[:count]
    return [cells[i] for i in order]


def fold(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect an unbounded coordinate into ``[lo, hi]`` (a triangle wave; speed is kept)."""
    span = max(hi - lo, 1e-6)
    q = np.mod(x - lo, 2 * span)
    return lo + np.where(q < span, q, 2 * span - q)


def note_envelope(rng: np.random.Generator, num_frames: int, fps: float, on: tuple[float, float] = (0.35, 1.0),
                  off: tuple[float, float] = (0.1, 0.45), lead: tuple[float, float] = (0.0, 0.3),
                  tremolo: bool = True) -> tuple[np.ndarray, list[float]]:
    """An on/off envelope at frame rate: notes with attack, optional tremolo and release.

    Args:
        rng: random generator.
        num_frames: number of frames.
        fps: frame rate.
        on: range of note lengths in seconds.
        off: range of the rests between notes in seconds.
        lead: range of the rest before the first note.
        tremolo: add a slow 1.5-3 Hz amplitude modulation of depth 0.3 within notes.

    Returns:
        (envelope float32 (T,) in [0, 1], note onset times in seconds).
    """
    t = np.arange(num_frames) / fps
    env = np.zeros(num_frames, np.float32)
    onsets: list[float] = []
    pos = rng.uniform(*lead)
    end = num_frames / fps
    while pos < end:
        dur = rng.uniform(*on)
        amp = rng.uniform(0.6, 1.0)
        u = t - pos
        inside = (u >= 0) & (u < dur)
        shape = np.minimum(np.minimum(u / 0.08, (dur - u) / 0.1), 1.0)
        if tremolo:
            shape = shape * (0.7 + 0.3 * np.cos(2 * np.pi * rng.uniform(1.5, 3.0) * u))
        env = np.where(inside, np.maximum(env, amp * np.clip(shape, 0, 1)), env)
        onsets.append(round(float(pos), 6))
        pos += dur + rng.uniform(*off)
    return env.astype(np.float32), onsets


def _drift(rng: np.random.Generator, num_frames: int, fps: float, lo: float, hi: float, speed: float) -> np.ndarray:
    t = np.arange(num_frames) / fps
    start = rng.uniform(lo, hi)
    return fold(start + rng.uniform(-speed, speed) * t, lo, hi)


def bounce(rng: np.random.Generator, num_frames: int, fps: float, cell: Cell, radius: float) -> dict[str, np.ndarray]:
    """A sprite hopping on the floor of its cell; contacts fall on whole frames.

    Args:
        rng: random generator.
        num_frames: number of frames.
        fps: frame rate.
        cell: the cell ``(x0, y0, x1, y1)`` the sprite stays in.
        radius: sprite half size in pixels.

    Returns:
        Track arrays ``cx, cy, sx, sy, brightness`` (T,), ``contacts`` (frame indices) and
        ``strengths`` (impact strength of each contact, in (0, 1]).
    """
    x0, y0, x1, y1 = cell
    floor = y1 - 1.0  # the sprite's bottom edge at contact
    top = y0 + 1.0 + 2 * radius
    max_h = max(floor - top, 1.0)
    lo = max(4, int(round(BOUNCE_PERIOD[0] * fps)))
    hi = max(lo + 2, int(round(BOUNCE_PERIOD[1] * fps)))
    periods = rng.integers(lo, hi + 1, size=num_frames // lo + 3)  # (J,) frames per hop; [0] the hop before frame 0's
    heights = max_h * (periods / hi) ** 2  # (J,) a free fall of duration P/2 rises g P^2 / 8: height ~ period^2
    starts = -int(rng.integers(periods[1])) + np.concatenate([[0], np.cumsum(periods[1:-1])])  # (J-1,) contact frames
    frames = np.arange(num_frames)
    hop = np.searchsorted(starts, frames, side="right")  # (T,) index into periods/heights of the current hop (>= 1)
    u = (frames - starts[hop - 1]) / periods[hop]  # (T,) phase within the hop, in [0, 1)
    lift = heights[hop] * 4.0 * u * (1.0 - u)  # (T,) height above the floor
    contact = u == 0
    sx = np.where(contact, 1.2 * radius, radius).astype(np.float32)
    sy = np.where(contact, 0.8 * radius, radius).astype(np.float32)
    cy = floor - sy - lift
    cx = _drift(rng, num_frames, fps, x0 + 1.0 + 1.2 * radius, x1 - 1.0 - 1.2 * radius, 0.6 * (x1 - x0))
    contacts = frames[contact]
    strengths = np.sqrt(heights[hop[contact] - 1] / max_h)  # speed of the fall that ends there, in (0, 1]
    return {"cx": cx.astype(np.float32), "cy": cy.astype(np.float32), "sx": sx, "sy": sy,
            "brightness": np.ones(num_frames, np.float32), "contacts": contacts, "strengths": strengths}


def pulse(rng: np.random.Generator, num_frames: int, fps: float, cell: Cell, radius: float,
          envelope: np.ndarray) -> dict[str, np.ndarray]:
    """A sprite that grows and brightens with ``envelope`` while drifting slowly.

    Args:
        rng, num_frames, fps, cell: as for :func:`bounce`.
        radius: resting half size in pixels (it reaches ``1.45 * radius``).
        envelope: (T,) loudness in [0, 1].

    Returns:
        Track arrays ``cx, cy, sx, sy, brightness`` (T,).
    """
    x0, y0, x1, y1 = cell
    big = 1.45 * radius + 1.0
    s = (radius * (1.0 + 0.45 * envelope)).astype(np.float32)
    cx = _drift(rng, num_frames, fps, x0 + big, x1 - big, 0.08 * (x1 - x0))
    cy = _drift(rng, num_frames, fps, y0 + big, y1 - big, 0.08 * (y1 - y0))
    return {"cx": cx.astype(np.float32), "cy": cy.astype(np.float32), "sx": s, "sy": s.copy(),
            "brightness": (0.75 + 0.35 * envelope).astype(np.float32)}


def wander(rng: np.random.Generator, num_frames: int, fps: float, cell: Cell, radius: float,
           envelope: np.ndarray) -> dict[str, np.ndarray]:
    """A sprite moving at speed ``v_max * envelope`` along a wandering heading.

    Args:
        rng, num_frames, fps, cell, radius: as for :func:`bounce`.
        envelope: (T,) speed in units of ``v_max`` (the texture's level).

    Returns:
        Track arrays ``cx, cy, sx, sy, brightness`` (T,) and ``speed`` (T,) in pixels/s
        between frame ``t`` and ``t + 1`` (before reflection off the cell's walls).
    """
    x0, y0, x1, y1 = cell
    vmax = rng.uniform(1.2, 1.8) * min(x1 - x0, y1 - y0)  # pixels per second
    heading = rng.uniform(0, 2 * np.pi) + np.cumsum(rng.normal(0.0, 0.35, num_frames))
    speed = vmax * envelope  # (T,)
    step = speed / fps
    px = np.concatenate([[0.0], np.cumsum(step * np.cos(heading))[:-1]])
    py = np.concatenate([[0.0], np.cumsum(step * np.sin(heading))[:-1]])
    m = radius + 1.0
    cx = fold(rng.uniform(x0 + m, x1 - m) + px, x0 + m, x1 - m)
    cy = fold(rng.uniform(y0 + m, y1 - m) + py, y0 + m, y1 - m)
    r = np.full(num_frames, radius, np.float32)
    return {"cx": cx.astype(np.float32), "cy": cy.astype(np.float32), "sx": r, "sy": r.copy(),
            "brightness": np.ones(num_frames, np.float32), "speed": speed.astype(np.float32)}


def head(rng: np.random.Generator, num_frames: int, fps: float, cell: Cell, half_h: float,
         width: float) -> dict[str, np.ndarray]:
    """A face swaying gently in its cell and blinking every few seconds.

    Args:
        rng, num_frames, fps, cell: as for :func:`bounce`.
        half_h: head half height in pixels.
        width: half width relative to ``half_h``.

    Returns:
        Track arrays ``cx, cy, sx (half width), sy (half height), brightness, blink`` (T,).
    """
    x0, y0, x1, y1 = cell
    t = np.arange(num_frames) / fps
    half_w = width * half_h
    cx0 = rng.uniform(x0 + half_w + 1.5, x1 - half_w - 1.5)
    cy0 = rng.uniform(y0 + half_h + 1.5, y1 - half_h - 1.5)
    sway = 0.06 * half_h
    cx = cx0 + sway * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6.3))
    cy = cy0 + 0.5 * sway * np.sin(2 * np.pi * rng.uniform(0.2, 0.5) * t + rng.uniform(0, 6.3))
    blink = np.zeros(num_frames, np.float32)
    pos = rng.uniform(0.5, 3.0)
    while pos < t[-1] + 1e-9:
        i = int(pos * fps)
        blink[i : i + max(1, int(round(0.12 * fps)))] = 1.0
        pos += rng.uniform(2.0, 4.5)
    ones = np.ones(num_frames, np.float32)
    return {"cx": cx.astype(np.float32), "cy": cy.astype(np.float32), "sx": (half_w * ones).astype(np.float32),
            "sy": (half_h * ones).astype(np.float32), "brightness": ones, "blink": blink}
