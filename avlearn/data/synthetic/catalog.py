"""The world's classes: what each kind of source looks like and how it sounds.

Every sound class is tied to exactly one visual class (a shape in a colour family, or a face
with a skin and hair colour), so that seeing an object tells what it should sound like, the
premise of visually guided separation (Zhao et al. ECCV 2018, Sec. 3) and of co-separation's
object-consistency loss (Gao & Grauman ICCV 2019, Eq. 4). Each shape appears in two sound
families, so neither shape nor colour alone names the class.

Sound parameters are physical-ish recipes:

- impacts: modal synthesis, a sum of exponentially decaying sinusoids plus a short noise burst
  (van den Doel et al., "FoleyAutomatic", SIGGRAPH 2001, Eq. 1);
- tones: harmonic series with a class-specific spectral envelope and pitch range;
- textures: filtered noise (a band of the spectrum) whose level follows the object's speed;
- speakers: source-filter voices (Fant 1960): a glottal pulse train at the speaker's pitch
  shaped by vowel formants scaled by the speaker's vocal-tract factor (Peterson & Barney 1952
  formant table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "SoundClass",
    "Speaker",
    "ActionClass",
    "COLOURS",
    "SHAPES",
    "OBJECT_CLASSES",
    "SPEAKERS",
    "ACTION_CLASSES",
    "ActorAction",
    "ACTOR_ACTIONS",
    "AVClass",
    "AV_CLASSES",
    "VOWELS",
    "SKINS",
    "HAIRS",
    "classes_for",
    "object_class",
]

#: RGB in [0, 1] of each colour family's centre; instances jitter around it.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.15, 0.15),
    "orange": (1.00, 0.55, 0.10),
    "yellow": (0.95, 0.90, 0.15),
    "green": (0.20, 0.85, 0.25),
    "cyan": (0.10, 0.85, 0.90),
    "blue": (0.20, 0.35, 1.00),
    "magenta": (0.90, 0.20, 0.85),
    "white": (0.95, 0.95, 0.95),
}

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "ring", "cross")


@dataclass(frozen=True)
class SoundClass:
    """A visual class (shape x colour family) and the sound it makes.

    Attributes:
        name: the sound class, e.g. ``"knock"``.
        family: ``"impacts"``, ``"tones"`` or ``"textures"``.
        shape: one of :data:`SHAPES`.
        colour: one of :data:`COLOURS`.
        params: synthesis parameters read by :mod:`avlearn.data.synthetic.sounds`.
    """

    name: str
    family: str
    shape: str
    colour: str
    params: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def visual_class(self) -> str:
        """``"<shape>_<colour>"``."""
        return f"{self.shape}_{self.colour}"


OBJECT_CLASSES: tuple[SoundClass, ...] = (
    # impacts: modes (Hz), their decay times (s), gains; noise burst length (s) and band (Hz)
    SoundClass("knock", "impacts", "circle", "orange",
               {"modes": (180.0, 420.0, 1100.0), "decays": (0.08, 0.05, 0.02), "gains": (1.0, 0.6, 0.3),
                "burst": 0.005, "band": (300.0, 3000.0)}),
    SoundClass("click", "impacts", "square", "cyan",
               {"modes": (2400.0, 3700.0), "decays": (0.015, 0.01), "gains": (1.0, 0.5),
                "burst": 0.003, "band": (2000.0, 7000.0)}),
    SoundClass("clang", "impacts", "diamond", "yellow",
               {"modes": (620.0, 1711.0, 3348.0), "decays": (0.12, 0.08, 0.05), "gains": (1.0, 0.7, 0.4),
                "burst": 0.002, "band": (1000.0, 6000.0)}),
    SoundClass("thud", "impacts", "triangle", "green",
               {"modes": (90.0, 160.0), "decays": (0.06, 0.04), "gains": (1.0, 0.5),
                "burst": 0.02, "band": (60.0, 400.0)}),
    # tones: pitch range (Hz), harmonic amplitudes, vibrato depth (fraction) and rate (Hz)
    SoundClass("flute", "tones", "ring", "blue",
               {"pitch": (440.0, 880.0), "harmonics": (1.0, 0.3, 0.1, 0.05), "vibrato": (0.006, 5.0)}),
    SoundClass("buzz", "tones", "square", "magenta",
               {"pitch": (110.0, 220.0), "harmonics": tuple(1.0 / k for k in range(1, 21)), "vibrato": (0.0, 0.0)}),
    SoundClass("organ", "tones", "cross", "white",
               {"pitch": (196.0, 392.0), "harmonics": tuple((1.0 / k if k % 2 else 0.0) for k in range(1, 12)),
                "vibrato": (0.0, 0.0)}),
    SoundClass("hum", "tones", "circle", "green",
               {"pitch": (70.0, 140.0), "harmonics": (1.0, 0.6, 0.4, 0.2, 0.1), "vibrato": (0.003, 3.0)}),
    # textures: noise band (Hz), spectral slope (dB/octave), grain rate (Hz; 0 = continuous)
    SoundClass("whoosh", "textures", "triangle", "cyan", {"band": (600.0, 2000.0), "slope": 0.0, "grains": 0.0}),
    SoundClass("rumble", "textures", "diamond", "red", {"band": (30.0, 250.0), "slope": -6.0, "grains": 0.0}),
    SoundClass("hiss", "textures", "ring", "white", {"band": (3500.0, 7500.0), "slope": 0.0, "grains": 0.0}),
    SoundClass("rattle", "textures", "cross", "orange", {"band": (1500.0, 4000.0), "slope": 0.0, "grains": 40.0}),
)

#: Vowel formants F1-F3 (Hz, adult male; Peterson & Barney 1952) and mouth openness in [0, 1].
VOWELS: dict[str, tuple[tuple[float, float, float], float]] = {
    "a": ((730.0, 1090.0, 2440.0), 1.0),
    "e": ((530.0, 1840.0, 2480.0), 0.8),
    "i": ((270.0, 2290.0, 3010.0), 0.55),
    "o": ((570.0, 840.0, 2410.0), 0.85),
    "u": ((300.0, 870.0, 2240.0), 0.5),
}

SKINS: dict[str, tuple[float, float, float]] = {
    "light": (0.96, 0.80, 0.69),
    "tan": (0.87, 0.67, 0.49),
    "brown": (0.63, 0.43, 0.28),
    "dark": (0.40, 0.26, 0.16),
}
HAIRS: dict[str, tuple[float, float, float]] = {
    "black": (0.08, 0.07, 0.07),
    "brown": (0.40, 0.24, 0.10),
    "blond": (0.93, 0.80, 0.40),
    "red": (0.75, 0.25, 0.10),
    "grey": (0.70, 0.70, 0.72),
}


@dataclass(frozen=True)
class Speaker:
    """A speaker identity: a face (skin and hair colour, face width) and a voice.

    Attributes:
        name: e.g. ``"speaker0"``; the sound class of its voice.
        skin, hair: keys of the skin and hair colour tables.
        width: face half-width relative to its half-height.
        f0: mean pitch in Hz.
        formant_scale: vocal-tract factor multiplying every formant frequency.
        rate: syllables per second.
    """

    name: str
    skin: str
    hair: str
    width: float
    f0: float
    formant_scale: float
    rate: float

    family = "speakers"
    shape = "face"

    @property
    def visual_class(self) -> str:
        """``"face_<skin>_<hair>"``."""
        return f"face_{self.skin}_{self.hair}"

    @property
    def skin_rgb(self) -> tuple[float, float, float]:
        """Skin colour, RGB in [0, 1]."""
        return SKINS[self.skin]

    @property
    def hair_rgb(self) -> tuple[float, float, float]:
        """Hair colour, RGB in [0, 1]."""
        return HAIRS[self.hair]


SPEAKERS: tuple[Speaker, ...] = (
    Speaker("speaker0", "light", "black", 0.80, 98.0, 1.00, 4.5),
    Speaker("speaker1", "tan", "brown", 0.85, 120.0, 0.95, 5.0),
    Speaker("speaker2", "brown", "grey", 0.90, 140.0, 1.04, 4.0),
    Speaker("speaker3", "dark", "black", 0.78, 110.0, 0.92, 5.5),
    Speaker("speaker4", "light", "red", 0.76, 205.0, 1.16, 5.0),
    Speaker("speaker5", "tan", "blond", 0.74, 230.0, 1.20, 4.5),
    Speaker("speaker6", "brown", "black", 0.80, 185.0, 1.12, 5.5),
    Speaker("speaker7", "dark", "brown", 0.82, 250.0, 1.22, 4.0),
)


@dataclass(frozen=True)
class ActionClass:
    """An action of the ``"actions"`` world: a motion pattern and its typical sound.

    Attributes:
        name: the label name.
        motion: the motion pattern (see :mod:`avlearn.data.synthetic.actions`).
        sound: the object sound class whose recipe voices it.
        rate: events or cycles per second of the pattern.
    """

    name: str
    motion: str
    sound: str
    rate: float


ACTION_CLASSES: tuple[ActionClass, ...] = (
    ActionClass("bounce", "bounce", "knock", 2.0),
    ActionClass("tap", "tap", "click", 6.0),
    ActionClass("slide", "slide", "whoosh", 1.0),
    ActionClass("orbit", "orbit", "hum", 0.8),
    ActionClass("pulse", "pulse", "flute", 1.5),
    ActionClass("shake", "shake", "rattle", 8.0),
    ActionClass("jump", "jump", "thud", 0.7),
    ActionClass("zigzag", "zigzag", "organ", 1.2),
)


@dataclass(frozen=True)
class ActorAction:
    """An atomic action of the ``"actors"`` world (spatio-temporal action detection).

    Attributes:
        name: the label name.
        group: ``"body"`` (stand, walk, jump, crouch: exactly one at a time) or ``"arms"``
            (wave, clap, raise: at most one at a time); a body and an arms action overlap.
        sound: the object sound class that voices it, or None for a silent action.
        rate: steps, hops, waves or claps per second.
    """

    name: str
    group: str
    sound: str | None
    rate: float


ACTOR_ACTIONS: tuple[ActorAction, ...] = (
    ActorAction("stand", "body", None, 0.0),
    ActorAction("walk", "body", "thud", 1.8),
    ActorAction("jump", "body", "knock", 1.6),
    ActorAction("crouch", "body", None, 0.0),
    ActorAction("wave", "arms", "whoosh", 2.5),
    ActorAction("clap", "arms", "click", 2.5),
    ActorAction("raise", "arms", None, 0.0),
)


@dataclass(frozen=True)
class AVClass:
    """A class of the ``"av_classes"`` world (audio-visual fusion): a motion and a sound.

    Attributes:
        name: the label name, ``<motion>_<sound>[_<relation>]``.
        motion: the motion pattern the sprite performs (see :mod:`avlearn.data.synthetic.fusion`).
        sound: the object sound class voicing the motion's events and speed.
        carrier: where the class is: ``"both"`` (motion and sound, each alone confusable with
            one other class), ``"audio"`` (its motion is exactly another class's), ``"video"``
            (its sound is exactly another class's) or ``"sync"`` (motion and sound are shared
            with its twin; only whether the sound follows the motion tells them apart).
        video_confuser: a ``"both"`` class shows this class's motion with probability
            :data:`~avlearn.data.synthetic.fusion.CONFUSION`.
        audio_confuser: likewise for the sound.
        synchronous: the sound follows the shown motion (False: it follows another draw).
    """

    name: str
    motion: str
    sound: str
    carrier: str
    video_confuser: str | None = None
    audio_confuser: str | None = None
    synchronous: bool = True


AV_CLASSES: tuple[AVClass, ...] = (
    # "both": video confusions pair (0, 1), (2, 3), (4, 5); audio confusions pair (1, 2), (3, 4), (5, 0)
    AVClass("hop_knock", "hop", "knock", "both", "slide_whoosh", "zigzag_organ"),
    AVClass("slide_whoosh", "slide", "whoosh", "both", "hop_knock", "orbit_hum"),
    AVClass("orbit_hum", "orbit", "hum", "both", "pulse_flute", "slide_whoosh"),
    AVClass("pulse_flute", "pulse", "flute", "both", "orbit_hum", "shake_rattle"),
    AVClass("shake_rattle", "shake", "rattle", "both", "zigzag_organ", "pulse_flute"),
    AVClass("zigzag_organ", "zigzag", "organ", "both", "shake_rattle", "hop_knock"),
    AVClass("slide_hiss", "slide", "hiss", "audio"),  # looks like slide_whoosh
    AVClass("jump_hum", "jump", "hum", "video"),  # sounds like orbit_hum
    AVClass("tap_click_sync", "tap", "click", "sync"),
    AVClass("tap_click_offbeat", "tap", "click", "sync", synchronous=False),
)


def classes_for(kind: str, families: tuple[str, ...], action_classes: int = 8) -> list[str]:
    """The label space of a world: class names, in label-index order.

    Args:
        kind: the world kind.
        families: the sound families of an objects/speakers world.
        action_classes: how many action classes an actions world uses.

    Returns:
        Object sound classes of the chosen families then speaker names (objects and speakers
        worlds), action names (actions worlds), atomic actor actions (actors worlds) or the
        audio-visual classes (av_classes worlds).
    """
    if kind == "actions":
        return [a.name for a in ACTION_CLASSES[:action_classes]]
    if kind == "actors":
        return [a.name for a in ACTOR_ACTIONS]
    if kind == "av_classes":
        return [c.name for c in AV_CLASSES]
    names = [c.name for c in OBJECT_CLASSES if c.family in families]
    if "speakers" in families:
        names += [s.name for s in SPEAKERS]
    return names


def object_class(name: str) -> SoundClass:
    """The object sound class called ``name``.

    Raises:
        KeyError: no such class.
    """
    for c in OBJECT_CLASSES:
        if c.name == name:
            return c
    raise KeyError(f"unknown object sound class {name!r}")
