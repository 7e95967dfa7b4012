"""One clip of any synthetic world, by the world's kind.

Objects, instruments and speakers worlds are scenes of sounding sprites
(:func:`avlearn.data.synthetic.scene.generate_scene`); actions worlds are long untrimmed videos
of one actor (:func:`avlearn.data.synthetic.actions.generate_actions`, after the untrimmed
setting of Gao et al., "Listen to Look", CVPR 2020, Sec. 4.1); actors worlds hold several actors
with per-actor actions for spatio-temporal detection (:mod:`avlearn.data.synthetic.actors`, after
the AVA setting of Gu et al., CVPR 2018); av_classes worlds are clips whose class sound, motion or
both carry (:mod:`avlearn.data.synthetic.fusion`). Both modules build on the scene
pieces of :mod:`avlearn.data.synthetic.scene`; this module only dispatches, so neither imports
the other back.
"""

from __future__ import annotations

from typing import Iterable

from avlearn.data.synthetic.actions import generate_actions
from avlearn.data.synthetic.actors import generate_actors
from avlearn.data.synthetic.config import WorldConfig
from avlearn.data.synthetic.fusion import generate_av_class
from avlearn.data.synthetic.scene import Scene, generate_scene

__all__ = ["generate_clip"]


def generate_clip(config: WorldConfig, seed: int, *, hide: Iterable[str] = ()) -> Scene:
    """Generate one clip in memory. The same config and seed give identical arrays.

    Args:
        config: the world config (its ``kind`` picks the generator).
        seed: the clip's seed.
        hide: ids of sources to leave out of the frames (their sound and truth stay).

    Returns:
        The :class:`~avlearn.data.synthetic.scene.Scene` (video, mixture, stems, truth).
    """
    if config.kind == "actions":
        return generate_actions(config, seed, hide=hide)
    if config.kind == "actors":
        return generate_actors(config, seed, hide=hide)
    if config.kind == "av_classes":
        return generate_av_class(config, seed, hide=hide)
    return generate_scene(config, seed, hide=hide)
