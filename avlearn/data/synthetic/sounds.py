"""Sound synthesis for the world's object families: impacts, tones and textures.

- Impacts use modal synthesis: an impulse response ``h(t) = sum_k g_k exp(-t / tau_k)
  sin(2 pi f_k t)`` plus a short band-limited noise burst (van den Doel, Kry & Pai,
  "FoleyAutomatic", SIGGRAPH 2001, Eq. 1), started at the exact sample of each contact and
  scaled by the impact speed.
- Tones are harmonic series ``sum_k a_k sin(k phi(t))`` with ``phi' = 2 pi f0(t)`` (a
  class-specific spectral envelope, pitch range and vibrato), multiplied by a loudness
  envelope that the renderer also draws as the object's pulsing.
- Textures are noise shaped in the frequency domain (a band with a spectral slope, optionally
  gated into grains) multiplied by a level that follows the object's speed.

Frame-rate drives become audio-rate gains by linear interpolation between frame times
``i / fps`` (the presentation time of frame ``i``), so the drive of frame ``i`` is the gain at
sample ``i * sample_rate / fps``.
"""

from __future__ import annotations

import numpy as np

from avlearn.data.synthetic.catalog import SoundClass

__all__ = [
    "frames_to_samples",
    "impact_response",
    "impacts",
    "tone",
    "texture_noise",
    "pan",
    "frame_rms",
    "band_noise",
]


def frames_to_samples(drive: np.ndarray, fps: float, sample_rate: int, num_samples: int) -> np.ndarray:
    """Linearly interpolate a per-frame drive (at times ``i / fps``) to every audio sample.

    Args:
        drive: (T,) values at frame times.
        fps: frame rate.
        sample_rate: audio sample rate.
        num_samples: output length.

    Returns:
        float32 (num_samples,); values after the last frame hold the last frame's value.
    """
    t = np.arange(num_samples, dtype=np.float64) / sample_rate
    frame_t = np.arange(len(drive), dtype=np.float64) / fps
    return np.interp(t, frame_t, np.asarray(drive, np.float64)).astype(np.float32)


def band_noise(rng: np.random.Generator, n: int, sample_rate: int, band: tuple[float, float],
               slope_db: float = 0.0) -> np.ndarray:
    """White noise restricted to ``band`` (Hz) with a spectral slope, unit RMS.

    The band is clipped to 95% of the Nyquist frequency; the edges are raised-cosine tapers
    of a sixth of the band so the noise has no ringing.

    Args:
        rng: random generator.
        n: number of samples.
        sample_rate: sample rate in Hz.
        band: (low, high) in Hz.
        slope_db: gain change per octave above ``low`` (e.g. -6 for brown-ish noise).

    Returns:
        float32 (n,) with RMS 1.
    """
    nyq = 0.95 * sample_rate / 2
    lo, hi = min(band[0], nyq * 0.5), min(band[1], nyq)
    spec = np.fft.rfft(rng.standard_normal(n).astype(np.float32))  # (n//2+1,)
    f = np.fft.rfftfreq(n, 1.0 / sample_rate)
    taper = max((hi - lo) / 6.0, 1.0)
    gain = np.clip((f - lo) / taper + 0.5, 0, 1) * np.clip((hi - f) / taper + 0.5, 0, 1)
    gain = 0.5 - 0.5 * np.cos(np.pi * gain)
    if slope_db:
        gain *= np.power(np.maximum(f, lo) / lo, slope_db / (20.0 * np.log10(2.0)))
    x = np.fft.irfft(spec * gain, n).astype(np.float32)
    return x / (np.sqrt(np.mean(x * x)) + 1e-12)


def impact_response(cls: SoundClass, rng: np.random.Generator, sample_rate: int,
                    detune: float = 1.0) -> np.ndarray:
    """The impulse response of one impact of class ``cls`` (peak 1).

    Args:
        cls: an impacts-family class (its params hold modes, decays, gains, burst, band).
        rng: random generator (the burst's noise).
        sample_rate: sample rate in Hz.
        detune: instance factor on every modal frequency.

    Returns:
        float32 (L,) starting with its onset at index 0.
    """
    p = cls.params
    length = int(min(0.45, 5.0 * max(p["decays"])) * sample_rate)
    t = np.arange(length, dtype=np.float32) / sample_rate
    h = np.zeros(length, np.float32)
    for f, tau, g in zip(p["modes"], p["decays"], p["gains"]):
        f = f * detune
        if f < 0.95 * sample_rate / 2:
            h += g * np.exp(-t / tau) * np.sin(2 * np.pi * f * t)
    nb = max(int(p["burst"] * sample_rate), 8)
    burst = band_noise(rng, nb * 4, sample_rate, p["band"])[:nb] * np.hanning(2 * nb)[nb:]
    h[:nb] += 0.5 * burst
    h[0] = 0.0  # the onset: silence, then the response starts
    return h / (np.abs(h).max() + 1e-12)


def impacts(cls: SoundClass, rng: np.random.Generator, times: np.ndarray, strengths: np.ndarray,
            sample_rate: int, num_samples: int, detune: float = 1.0) -> np.ndarray:
    """Impacts at ``times`` (s), each its response scaled by its strength.

    Args:
        cls: the impacts class.
        rng: random generator.
        times: (K,) onset times in seconds; each starts at sample ``round(t * sample_rate)``.
        strengths: (K,) amplitude of each impact.
        sample_rate: sample rate in Hz.
        num_samples: output length.
        detune: instance factor on the modal frequencies.

    Returns:
        float32 (num_samples,).
    """
    out = np.zeros(num_samples, np.float32)
    h = impact_response(cls, rng, sample_rate, detune)
    for t, s in zip(times, strengths):
        start = int(round(float(t) * sample_rate))
        if 0 <= start < num_samples:
            seg = h[: num_samples - start]
            out[start : start + len(seg)] += float(s) * seg
    return out


def tone(cls: SoundClass, pitch: np.ndarray, sample_rate: int, phase0: float = 0.0) -> np.ndarray:
    """A harmonic tone following a per-sample pitch, unit peak harmonic amplitude.

    Args:
        cls: a tones-family class (harmonics, vibrato).
        pitch: (N,) fundamental frequency in Hz at every sample.
        sample_rate: sample rate in Hz.
        phase0: starting phase in radians.

    Returns:
        float32 (N,); harmonics above 95% of Nyquist (at the highest pitch of a note) are
        left out, so nothing aliases.

    One cycle of the waveform is tabulated per distinct pitch (a wavetable of 2048 points,
    read with linear interpolation at the running phase), or once for all samples when the
    pitch glides through many values.
    """
    depth, rate = cls.params["vibrato"]
    n = len(pitch)
    pitch = np.asarray(pitch, np.float64)
    t = np.arange(n, dtype=np.float64) / sample_rate
    f = pitch * (1.0 + depth * np.sin(2 * np.pi * rate * t))
    cycles = np.mod(phase0 / (2 * np.pi) + np.cumsum(f) / sample_rate, 1.0)  # (N,) phase in cycles
    nyq = 0.95 * sample_rate / 2
    grid = np.linspace(0.0, 1.0, 2049)
    values = np.unique(pitch)
    groups = [(pitch == v, v) for v in values] if len(values) <= 16 else [(slice(None), values.max())]
    out = np.zeros(n, np.float32)
    for where, top in groups:
        table = np.zeros_like(grid)
        for k, a in enumerate(cls.params["harmonics"], start=1):
            if a and k * top * (1.0 + depth) < nyq:
                table += a * np.sin(2 * np.pi * k * grid)
        out[where] = np.interp(cycles[where], grid, table)
    return out


def texture_noise(cls: SoundClass, rng: np.random.Generator, n: int, sample_rate: int) -> np.ndarray:
    """The class's noise at unit RMS (grains gate it into random bursts when the class has a rate).

    Args:
        cls: a textures-family class (band, slope, grains).
        rng: random generator.
        n: number of samples.
        sample_rate: sample rate in Hz.

    Returns:
        float32 (n,) with RMS 1.
    """
    p = cls.params
    x = band_noise(rng, n, sample_rate, p["band"], p["slope"])
    if p["grains"]:
        period = sample_rate / p["grains"]
        phase = (np.arange(n) / period + rng.uniform(0, 1)) % 1.0
        x = x * np.exp(-phase * 6.0).astype(np.float32)
        x /= np.sqrt(np.mean(x * x)) + 1e-12
    return x


def pan(mono: np.ndarray, position: np.ndarray, channels: int) -> np.ndarray:
    """Constant-power pan of a mono signal.

    Args:
        mono: (N,) signal.
        position: (N,) horizontal position in [0, 1] (0 left, 1 right); ignored for mono.
        channels: 1 or 2.

    Returns:
        float32 (channels, N).
    """
    if channels == 1:
        return mono[None].astype(np.float32)
    theta = np.clip(position, 0.0, 1.0) * (np.pi / 2)
    return np.stack([mono * np.cos(theta), mono * np.sin(theta)]).astype(np.float32)


def frame_rms(audio: np.ndarray, fps: float, sample_rate: int, num_frames: int, centred: bool = True) -> np.ndarray:
    """RMS of the audio around each frame time.

    Args:
        audio: (C, N) or (N,) samples.
        fps: frame rate.
        sample_rate: sample rate.
        num_frames: number of frames.
        centred: window ``[(i - 0.5) / fps, (i + 0.5) / fps)`` when True, else
            ``[i / fps, (i + 1) / fps)`` (the interval the frame is on screen).

    Returns:
        float32 (num_frames,).
    """
    x = np.asarray(audio, np.float32)
    x = x.reshape(-1, x.shape[-1])
    power = np.concatenate([np.zeros(1, np.float64), np.cumsum(np.mean(x.astype(np.float64) ** 2, axis=0))])
    n = x.shape[-1]
    shift = 0.5 if centred else 0.0
    starts = np.clip(np.round((np.arange(num_frames) - shift) * sample_rate / fps).astype(int), 0, n)
    ends = np.clip(np.round((np.arange(num_frames) + 1 - shift) * sample_rate / fps).astype(int), 0, n)
    energy = (power[ends] - power[starts]) / np.maximum(ends - starts, 1)
    return np.sqrt(np.maximum(energy, 0.0)).astype(np.float32)
