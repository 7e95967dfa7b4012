"""Transforms for audio-visual samples, as ``nn.Module`` s over plain tensor functions.

Each transform works on a tensor, or on a sample dict (then on ``sample["video"]`` or
``sample["audio"]``); the temporal crops take sample dicts only, because they cut video and
audio together. A typical training pipeline for a sync or classification model:

    >>> from avlearn.data import transforms as T
    >>> train = T.Compose([
    ...     T.ToFloatCTHW(),                     # uint8 (T, H, W, 3) -> float (3, T, H, W)
    ...     T.RandomTemporalCrop(0.5),           # 0.5 s of frames + the audio under them
    ...     T.Resize(128), T.RandomCrop(112), T.RandomHorizontalFlip(),
    ...     T.Normalize([0.45] * 3, [0.225] * 3),
    ...     T.RandomGain((-6, 6)), T.LogMelSpectrogram(16000, n_fft=512, hop_length=160, n_mels=64),
    ... ])

See :mod:`~avlearn.data.transforms.video`, :mod:`~avlearn.data.transforms.audio`,
:mod:`~avlearn.data.transforms.audio_effects` (pitch shift and onset strength, over librosa) and
:mod:`~avlearn.data.transforms.av` for the papers each follows.
"""

from avlearn.data.transforms.audio import (
    LogMelSpectrogram,
    MuLawCompress,
    RandomGain,
    Spectrogram,
    mu_law_compress,
)
from avlearn.data.transforms.audio_effects import OnsetStrength, RandomPitchShift, onset_strength, pitch_shift
from avlearn.data.transforms.av import (
    Compose,
    RandomTemporalCrop,
    SampleTransform,
    TemporalCrop,
    video_time_dim,
)
from avlearn.data.transforms.video import (
    CenterCrop,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    ToFloatCTHW,
)

__all__ = [
    "SampleTransform",
    "Compose",
    "TemporalCrop",
    "RandomTemporalCrop",
    "video_time_dim",
    "ToFloatCTHW",
    "Resize",
    "RandomCrop",
    "CenterCrop",
    "RandomHorizontalFlip",
    "Normalize",
    "RandomGain",
    "Spectrogram",
    "LogMelSpectrogram",
    "MuLawCompress",
    "mu_law_compress",
    "RandomPitchShift",
    "pitch_shift",
    "OnsetStrength",
    "onset_strength",
]
