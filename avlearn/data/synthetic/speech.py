"""A small source-filter speech synthesizer with per-speaker pitch and formants.

The voice follows the source-filter model (Fant, "Acoustic Theory of Speech Production",
1960): a glottal pulse train at the speaker's pitch ``f0(t)``, shaped by a two-pole glottal
low-pass and a first-difference lip radiation (net -6 dB/octave), is filtered per syllable by
a cascade of three formant resonators

    H_k(z) = (1 - r_k) / (1 - 2 r_k cos(theta_k) z^-1 + r_k^2 z^-2),
    r_k = exp(-pi B_k / fs),  theta_k = 2 pi F_k / fs,

with the vowel's formants ``F_k`` (Peterson & Barney 1952) times the speaker's vocal-tract
factor. Each syllable is normalised to unit RMS and multiplied by a raised-cosine amplitude
envelope scaled by the vowel's openness; optional fricative onsets add band-passed noise.
The envelope is returned too: the renderer opens the face's mouth by it, the cue that
audio-visual speech separation relies on (Ephrat et al. SIGGRAPH 2018; Gao et al. CVPR 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from avlearn.data.synthetic.catalog import VOWELS, Speaker
from avlearn.data.synthetic.sounds import band_noise, frame_rms

__all__ = ["Speech", "synthesize_speech", "mouth_opening"]

_BANDWIDTHS = (70.0, 100.0, 130.0)


@dataclass
class Speech:
    """A synthesized utterance.

    Attributes:
        audio: float32 (N,) the voice, peak about 1.
        envelope: float32 (N,) amplitude envelope of the voiced part in [0, 1].
        onsets: syllable onset times in seconds.
        vowels: the vowel of each syllable.
    """

    audio: np.ndarray
    envelope: np.ndarray
    onsets: list[float]
    vowels: list[str]


def _formant_filter(freqs: tuple[float, ...], sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    b = np.ones(1)
    a = np.ones(1)
    for f, bw in zip(freqs, _BANDWIDTHS):
        if f >= 0.95 * sample_rate / 2:
            continue
        r = np.exp(-np.pi * bw / sample_rate)
        a = np.convolve(a, [1.0, -2.0 * r * np.cos(2 * np.pi * f / sample_rate), r * r])
        b = b * (1.0 - r)
    return b, a


def _glottal_source(rng: np.random.Generator, f0: np.ndarray, sample_rate: int) -> np.ndarray:
    phase = np.cumsum(f0 / sample_rate)  # (N,) cycles
    pulses = np.diff(np.floor(phase), prepend=0.0).astype(np.float64)  # 1 at each glottal closure
    glottal = lfilter([1.0], [1.0, -1.8, 0.81], pulses)  # two-pole glottal low-pass
    voiced = lfilter([1.0, -1.0], [1.0], glottal)  # lip radiation
    voiced += 0.02 * rng.standard_normal(len(f0))  # breathiness
    return voiced


def synthesize_speech(speaker: Speaker, rng: np.random.Generator, num_samples: int, sample_rate: int,
                      lead: tuple[float, float] = (0.0, 0.25)) -> Speech:
    """Speak random syllables for ``num_samples`` samples.

    Args:
        speaker: the voice (pitch, formant factor, speaking rate).
        rng: random generator.
        num_samples: output length.
        sample_rate: sample rate in Hz.
        lead: range of the silence before the first syllable, in seconds.

    Returns:
        :class:`Speech` with the audio, its envelope, syllable onsets and vowels.
    """
    n = num_samples
    t = np.arange(n) / sample_rate
    f0 = speaker.f0 * rng.uniform(0.93, 1.07) * (1.0 + 0.06 * np.sin(2 * np.pi * 0.45 * t + rng.uniform(0, 6.3)))
    f0 = f0 * (1.0 - 0.06 * t / max(t[-1], 1e-6)) * (1.0 + 0.004 * rng.standard_normal(n))  # declination, jitter
    source = _glottal_source(rng, f0, sample_rate)
    audio = np.zeros(n, np.float64)
    envelope = np.zeros(n, np.float64)
    onsets: list[float] = []
    vowels: list[str] = []
    names = sorted(VOWELS)
    pos = rng.uniform(*lead)
    while True:
        dur = rng.uniform(0.6, 1.4) / speaker.rate
        s0, s1 = int(pos * sample_rate), int((pos + dur) * sample_rate)
        if s1 > n:
            break
        vowel = names[int(rng.integers(len(names)))]
        formants, openness = VOWELS[vowel]
        freqs = tuple(f * speaker.formant_scale * rng.uniform(0.97, 1.03) for f in formants)
        b, a = _formant_filter(freqs, sample_rate)
        seg = lfilter(b, a, source[s0:s1])
        seg /= np.sqrt(np.mean(seg * seg)) + 1e-12
        m = s1 - s0
        attack, release = max(int(0.025 * sample_rate), 2), max(int(0.4 * m), 2)
        env = np.ones(m)
        env[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
        env[m - release :] = 0.5 + 0.5 * np.cos(np.pi * np.arange(1, release + 1) / release)
        env *= openness * rng.uniform(0.75, 1.0)
        audio[s0:s1] += seg * env
        envelope[s0:s1] += env
        if rng.random() < 0.5:  # a fricative onset
            nf = min(int(0.04 * sample_rate), m)
            fric = band_noise(rng, nf * 2, sample_rate, (2500.0 * speaker.formant_scale, 6500.0))[:nf]
            audio[s0 : s0 + nf] += 0.25 * fric * np.hanning(nf)
        onsets.append(round(pos, 6))
        vowels.append(vowel)
        pos += dur + (rng.uniform(0.2, 0.5) if rng.random() < 0.2 else rng.uniform(0.02, 0.08))
    peak = np.abs(audio).max()
    scale = 1.0 / peak if peak > 0 else 1.0
    return Speech((audio * scale).astype(np.float32), envelope.astype(np.float32), onsets, vowels)


def mouth_opening(envelope: np.ndarray, fps: float, sample_rate: int, num_frames: int) -> np.ndarray:
    """Per-frame mouth opening in [0, 1]: the envelope's RMS over each frame's centred window.

    Args:
        envelope: (N,) amplitude envelope in [0, 1].
        fps, sample_rate: rates.
        num_frames: number of frames.

    Returns:
        float32 (num_frames,).
    """
    return np.clip(frame_rms(envelope, fps, sample_rate, num_frames), 0.0, 1.0)
