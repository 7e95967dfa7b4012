"""The procedural audio-visual world: generated videos whose sounds come from visible objects.

Every task in avlearn trains and is measured here, because the truth is known exactly: when a
sound happens, where its source is, and what each source sounds like alone.

Kinds of world (:class:`WorldConfig` ``kind``):

- ``objects``: 1-4 sprites on a textured, noisy background. Impacts bounce and knock at each
  contact frame; tones pulse with their loudness; textures hiss as loudly as they move fast.
  Some objects are silent distractors; some scenes carry an off-screen sound.
- ``speakers``: faces whose mouths open with the envelope of a source-filter voice (per
  speaker pitch and formants), beside silent faces that mouth along.
- ``actions``: long untrimmed videos (30 s by default) of one actor performing labelled action
  segments (a motion pattern plus a class-typical sound) separated by background.
- ``actors``: 2-4 stick-figure actors at once (4 s clips), each boxed in every frame and doing
  overlapping atomic actions (a body action such as walk or jump together with an arms action
  such as wave or clap), beside silent distractors; keyframes every 0.5 s (AVA-style
  spatio-temporal action detection).
- ``av_classes``: one sprite per clip whose class is carried by its motion and its sound (each
  alone confusable), by only one of them, or only by whether the sound follows the motion
  (audio-visual fusion).

In memory::

    >>> from avlearn.data.synthetic import WorldConfig, generate_clip
    >>> scene = generate_clip(WorldConfig(kind="objects"), seed=0)
    >>> scene.video.shape, scene.audio.shape        # (32, 64, 64, 3) uint8, (1, 32000) float32
    >>> sum(scene.stems.values())                    # == scene.audio (stems sum to the mixture)

On disk (``make_world(OUT, config, clips={"train": N, "val": n, "test": n}, seed=S)`` or
``avlearn make-world --out OUT --clips N --seed S``; full description in docs/world.md)::

    OUT/world.json                         config, version, seed, classes, splits, lists
    OUT/<split>/clips/<id>.mp4             h264 + AAC, the mixture
    OUT/<split>/stems/<id>/<source>.flac   one lossless stem per sounding source
    OUT/<split>/truth/<id>.json            fps, sample_rate, duration, label, sources (id,
                                           visual_class, sound_class, sound_family, onscreen,
                                           sounding, per-frame boxes [x0, y0, x1, y1] and
                                           active flags, level, drive, events), segments
    OUT/<split>/manifest.jsonl             avlearn manifest rows: path (relative to the
                                           manifest), label, start, end, id, truth, stems,
                                           num_sources, ... (actors: keyframes,
                                           num_actors; av_classes: carrier, ...)
    OUT/<split>/segments.jsonl             (actions) one row per segment: path, start, end, label
    OUT/lists/{sync,separation,localization,segments,detection,classify}_{val,test}.jsonl
                                           frozen evaluation lists (paths relative to OUT)

Boxes are pixel edges with exclusive ends; frame ``i`` is shown at ``i / fps``.
"""

from avlearn.data.synthetic.catalog import (ACTION_CLASSES, ACTOR_ACTIONS, AV_CLASSES, OBJECT_CLASSES, SPEAKERS,
                                            classes_for)
from avlearn.data.synthetic.config import KINDS, WORLD_VERSION, WorldConfig
from avlearn.data.synthetic.generate import generate_clip
from avlearn.data.synthetic.scene import Scene
from avlearn.data.synthetic.truth import WorldFormatError, load_list, load_truth, load_world, read_jsonl
from avlearn.data.synthetic.writer import clip_seeds, make_world

__all__ = [
    "WorldConfig",
    "KINDS",
    "WORLD_VERSION",
    "Scene",
    "generate_clip",
    "make_world",
    "clip_seeds",
    "load_truth",
    "load_world",
    "load_list",
    "read_jsonl",
    "WorldFormatError",
    "classes_for",
    "OBJECT_CLASSES",
    "SPEAKERS",
    "ACTION_CLASSES",
    "ACTOR_ACTIONS",
    "AV_CLASSES",
]
