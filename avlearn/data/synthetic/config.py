"""Configuration of the procedural audio-visual world.

One :class:`WorldConfig` fixes everything a world's clips are drawn from: the kind of world,
the picture and sound formats, how many objects a scene holds, which sound families appear,
and how often silent distractors and off-screen sounds occur. The same config and seed give
byte-identical arrays (see :func:`avlearn.data.synthetic.generate_clip`).

The scene design follows the data requirements of the papers the tasks reproduce: sounding
objects beside silent distractors for localization (Senocak et al. CVPR 2018, Sec. 4), solo
clips to mix and separate (Zhao et al. ECCV 2018, Sec. 3.1), long untrimmed videos made of
labelled segments separated by background for audio-preview recognition (Gao et al. CVPR 2020,
Sec. 4.1), several boxed actors with overlapping atomic actions for spatio-temporal action
detection (Gu et al., AVA, CVPR 2018, Sec. 3), and classes carried by sound, motion or both for
audio-visual fusion (Nagrani et al., MBT, NeurIPS 2021, Sec. 4).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["WorldConfig", "KINDS", "FAMILIES", "WORLD_VERSION", "DEFAULT_FAMILIES"]

#: Version of the on-disk format written by :func:`avlearn.data.synthetic.make_world`.
WORLD_VERSION = 1

KINDS: tuple[str, ...] = ("objects", "speakers", "actions", "actors", "av_classes")
FAMILIES: tuple[str, ...] = ("impacts", "tones", "textures", "speakers")
DEFAULT_FAMILIES: dict[str, tuple[str, ...]] = {
    "objects": ("impacts", "tones", "textures"),
    "speakers": ("speakers",),
    "actions": (),
    "actors": (),
    "av_classes": (),
}
_DEFAULT_DURATION = {"objects": 2.0, "speakers": 2.0, "actions": 30.0, "actors": 4.0, "av_classes": 2.0}
_OWN_SOUNDS = ("actions", "actors", "av_classes")  # kinds whose sounds come with their classes, not families


@dataclass(frozen=True)
class WorldConfig:
    """Everything one synthetic world is drawn from.

    Attributes:
        kind: ``"objects"`` (bouncing, pulsing and moving sprites), ``"speakers"`` (faces whose
            mouths follow their voices), ``"actions"`` (long untrimmed videos of labelled
            action segments separated by background), ``"actors"`` (2-4 actors at once, each
            with a box per frame and overlapping atomic actions) or ``"av_classes"`` (one
            sprite per clip whose class is carried by its motion, its sound, or both).
        size: frame size as ``(height, width)``; an int means a square frame. Both even.
        fps: video frame rate.
        sample_rate: audio sample rate in Hz.
        duration: clip length in seconds; ``None`` means 2.0 s (30.0 s for ``"actions"``,
            4.0 s for ``"actors"``).
        channels: 1 (mono) or 2 (stereo; each source is panned by its horizontal position).
        min_objects: fewest visible objects in a scene (objects and speakers kinds; actors
            worlds: fewest actors, raised to 2).
        max_objects: most visible objects in a scene (at most 4; actors worlds: most actors).
        families: sound families the scene's sources are drawn from; ``None`` means
            impacts + tones + textures for ``"objects"`` and speakers for ``"speakers"``.
        distractor_rate: probability that each visible object after the first is a silent
            distractor (it moves like a sounding object but makes no sound).
        offscreen_rate: probability that a scene carries one extra sound with no visible source.
        solo: exactly one sounding source (the first visible object): every other visible
            object is silent and there is no off-screen sound. Used for mix-and-separate.
        action_classes: number of action classes in ``"actions"`` worlds (2 to 8).
        action_purity: probability that an action segment has the video's main class (the rest
            are drawn from the other classes); the video label is the class with the most time.
        seed: world seed; splits and clips derive their seeds from it.
    """

    kind: str = "objects"
    size: Any = 64
    fps: int = 16
    sample_rate: int = 16000
    duration: float | None = None
    channels: int = 1
    min_objects: int = 1
    max_objects: int = 4
    families: tuple[str, ...] | None = None
    distractor_rate: float = 0.25
    offscreen_rate: float = 0.1
    solo: bool = False
    action_classes: int = 8
    action_purity: float = 0.75
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"WorldConfig.kind must be one of {KINDS}, got {self.kind!r}")
        size = (self.size, self.size) if isinstance(self.size, int) else tuple(int(s) for s in self.size)
        if len(size) != 2 or min(size) < 16 or size[0] % 2 or size[1] % 2:
            raise ValueError(f"WorldConfig.size must be an even int or (H, W) of even ints >= 16, got {self.size!r}")
        object.__setattr__(self, "size", size)
        duration = _DEFAULT_DURATION[self.kind] if self.duration is None else float(self.duration)
        if duration * self.fps < 2:
            raise ValueError(f"WorldConfig.duration {duration} s holds fewer than 2 frames at {self.fps} fps")
        object.__setattr__(self, "duration", duration)
        families = DEFAULT_FAMILIES[self.kind] if self.families is None else tuple(self.families)
        unknown = sorted(set(families) - set(FAMILIES))
        if unknown:
            raise ValueError(f"WorldConfig.families: unknown families {unknown}; choose from {FAMILIES}")
        if self.kind not in _OWN_SOUNDS and not families:
            raise ValueError(f"WorldConfig.families: a {self.kind!r} world needs at least one sound family")
        object.__setattr__(self, "families", families)
        if self.fps <= 0 or self.sample_rate < 8000:
            raise ValueError(f"WorldConfig: fps must be > 0 and sample_rate >= 8000, got {self.fps}, {self.sample_rate}")
        if self.channels not in (1, 2):
            raise ValueError(f"WorldConfig.channels must be 1 or 2, got {self.channels}")
        if not 1 <= self.min_objects <= self.max_objects <= 4:
            raise ValueError(
                f"WorldConfig: need 1 <= min_objects <= max_objects <= 4, got {self.min_objects}, {self.max_objects}"
            )
        for name in ("distractor_rate", "offscreen_rate", "action_purity"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"WorldConfig.{name} must lie in [0, 1], got {value}")
        if not 2 <= self.action_classes <= 8:
            raise ValueError(f"WorldConfig.action_classes must lie in [2, 8], got {self.action_classes}")

    @property
    def height(self) -> int:
        """Frame height in pixels."""
        return self.size[0]

    @property
    def width(self) -> int:
        """Frame width in pixels."""
        return self.size[1]

    @property
    def num_frames(self) -> int:
        """Frames per clip: ``round(duration * fps)``."""
        return int(round(self.duration * self.fps))

    @property
    def num_samples(self) -> int:
        """Audio samples per clip: ``round(duration * sample_rate)``."""
        return int(round(self.duration * self.sample_rate))

    def replace(self, **changes: Any) -> "WorldConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the fields (defaults resolved)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["size"] = list(self.size)
        out["families"] = list(self.families)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WorldConfig":
        """Inverse of :meth:`to_dict`; unknown keys are rejected.

        Raises:
            ValueError: a key that is not a field.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"WorldConfig: unknown keys {unknown}")
        data = dict(data)
        if "size" in data and not isinstance(data["size"], int):
            data["size"] = tuple(data["size"])
        if data.get("families") is not None:
            data["families"] = tuple(data["families"])
        return cls(**data)
