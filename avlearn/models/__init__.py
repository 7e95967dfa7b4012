"""Video and audio towers behind one registry.

    >>> from avlearn.models import create_model, list_models
"""

import importlib

from avlearn.models._registry import (
    create_model,
    list_models,
    load_weights,
    load_weights_file,
    model_entry,
    register_model,
)

__all__ = ["create_model", "list_models", "load_weights", "load_weights_file", "model_entry", "register_model"]

# Model files register their builders on import. Listed here so list_models() sees them all.
_MODEL_MODULES = (
    "avlearn.models.video.fusion",
    "avlearn.models.video.c3d",
    "avlearn.models.video.resnet3d",
    "avlearn.models.video.i3d",
    "avlearn.models.video.i3d_inception",
    "avlearn.models.video.two_stream",
    "avlearn.models.video.recurrent",
    "avlearn.models.video.nonlocal_net",
    "avlearn.models.video.slowfast",
    "avlearn.models.video.timesformer",
    "avlearn.models.video.vivit",
    "avlearn.models.video.mvit",
    "avlearn.models.video.mvitv2",
    "avlearn.models.video.vtn",
    "avlearn.models.audio.waveform",
    "avlearn.models.audio.spectrogram",
    "avlearn.models.av.multisensory",
    "avlearn.models.av.two_tower",
    "avlearn.models.av.unet",
    "avlearn.models.av.preview",
    "avlearn.models.av.attention_loc",
    "avlearn.models.av.attention_loc_sync",
    "avlearn.models.av.separation_visual",
    "avlearn.models.av.sound_of_pixels",
    "avlearn.models.av.coseparation",
    "avlearn.models.av.voice",
    "avlearn.models.av.mbt",
    "avlearn.models.av.tbn",
    "avlearn.models.detection.ava",
    "avlearn.models.detection.tal_net",
    "avlearn.models.detection.centernet",
)
for _m in _MODEL_MODULES:
    try:
        importlib.import_module(_m)
    except ModuleNotFoundError as _exc:
        if _exc.name != _m:
            raise
