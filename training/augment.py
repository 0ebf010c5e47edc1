"""Waveform augmentation that makes clean synthetic speech sound like real rooms and mics.

Each transform takes and returns 16 kHz float32 samples; :func:`augment` draws a
random chain of them per utterance and returns the names it applied, which the
data card counts.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, sosfilt

from dsp.resample import TARGET_RATE, resample


def speed(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Tempo and pitch together (the Kaldi 'speed perturbation')."""
    factor = rng.choice([0.9, 0.95, 1.05, 1.1])
    return resample(x, int(TARGET_RATE * factor), TARGET_RATE)


def vocal_tract(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shift formants by resampling, then restore duration with a crude overlap-add stretch."""
    factor = rng.uniform(0.9, 1.12)
    shifted = resample(x, int(TARGET_RATE * factor), TARGET_RATE)
    return _ola_stretch(shifted, len(x))


def _ola_stretch(x: np.ndarray, target_len: int, frame: int = 640) -> np.ndarray:
    hop_out = frame // 2
    n_frames = max(1, (target_len - frame) // hop_out + 1)
    hop_in = max(1, (len(x) - frame) / max(1, n_frames - 1)) if len(x) > frame else 1
    window = np.hanning(frame).astype(np.float32)
    out = np.zeros(target_len + frame, dtype=np.float32)
    norm = np.zeros_like(out)
    for i in range(n_frames):
        start = int(i * hop_in)
        piece = x[start : start + frame]
        if len(piece) < frame:
            piece = np.pad(piece, (0, frame - len(piece)))
        out[i * hop_out : i * hop_out + frame] += piece * window
        norm[i * hop_out : i * hop_out + frame] += window
    return (out / np.maximum(norm, 1e-3))[:target_len]


def reverb(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Convolve with a synthetic room response: direct path, early reflections, decaying tail."""
    rt60 = rng.uniform(0.15, 0.9)
    length = int(TARGET_RATE * min(rt60 * 1.2, 1.0))
    t = np.arange(length) / TARGET_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * TARGET_RATE)] = 0.0
    for _ in range(rng.integers(2, 8)):  # early reflections
        tail[int(rng.uniform(0.003, 0.04) * TARGET_RATE)] += rng.uniform(0.2, 0.7) * rng.choice([-1, 1])
    tail *= rng.uniform(0.1, 0.5) / (np.sqrt(np.sum(tail**2)) + 1e-9)
    rir = tail.astype(np.float32)
    rir[0] = 1.0
    return fftconvolve(x, rir)[: len(x)].astype(np.float32)


NOISE_EXPONENTS = {"white": 0.0, "pink": 1.0, "brown": 2.0}  # power falls as 1/f**exponent


def colored_noise(n: int, rng: np.random.Generator, exponent: float) -> np.ndarray:
    """Unit-variance noise whose power spectrum falls as 1/f**exponent."""
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.maximum(np.arange(n // 2 + 1), 1.0)
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2.0), n=n)
    return (noise / (np.std(noise) + 1e-9)).astype(np.float32)


def noise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """White, pink, brown or mains-hum noise at an SNR of 0-30 dB."""
    kind = rng.choice(["white", "pink", "brown", "hum"])
    n = len(x)
    if kind == "hum":
        t = np.arange(n) / TARGET_RATE
        base = rng.choice([50.0, 60.0])
        background = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        background = (background + 0.3 * rng.standard_normal(n)).astype(np.float32)
    else:
        background = colored_noise(n, rng, NOISE_EXPONENTS[kind])
    snr_db = rng.uniform(0.0, 30.0)
    speech_power = np.mean(x**2) + 1e-9
    background *= np.sqrt(speech_power / (10 ** (snr_db / 10)) / (np.mean(background**2) + 1e-9))
    return (x + background).astype(np.float32)


def band_limit(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Telephone (8 kHz, 300-3400 Hz) or a cheap USB mic (high-pass, soft top end)."""
    if rng.random() < 0.5:
        sos = butter(4, [300, 3400], btype="bandpass", fs=TARGET_RATE, output="sos")
        narrow = resample(sosfilt(sos, x).astype(np.float32), TARGET_RATE, 8000)
        return resample(narrow, 8000, TARGET_RATE)[: len(x)]
    low = rng.uniform(80, 250)
    high = rng.uniform(4500, 7500)
    sos = butter(2, [low, high], btype="bandpass", fs=TARGET_RATE, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def clipping(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    peak = np.max(np.abs(x)) + 1e-9
    limit = peak * rng.uniform(0.3, 0.8)
    return np.clip(x, -limit, limit)


def quantize(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """8-bit mu-law round trip, as in old codecs and cheap recorders."""
    mu = 255.0
    peak = np.max(np.abs(x)) + 1e-9
    y = np.sign(x / peak) * np.log1p(mu * np.abs(x / peak)) / np.log1p(mu)
    y = np.round(y * 127) / 127
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu * peak).astype(np.float32)


def pre_emphasis_tilt(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random spectral tilt, like different microphone responses."""
    coef = rng.uniform(-0.6, 0.6)
    return lfilter([1.0, -coef], [1.0], x).astype(np.float32)


TRANSFORMS = {
    "speed": (speed, 0.35),
    "vocal_tract": (vocal_tract, 0.25),
    "tilt": (pre_emphasis_tilt, 0.3),
    "reverb": (reverb, 0.35),
    "band_limit": (band_limit, 0.25),
    "noise": (noise, 0.5),
    "clipping": (clipping, 0.08),
    "quantize": (quantize, 0.08),
}


def augment(x: np.ndarray, rng: np.random.Generator, clean_probability: float = 0.15) -> tuple[np.ndarray, list[str]]:
    """A random chain of the transforms above, then a random gain; some utterances stay clean."""
    applied: list[str] = []
    if rng.random() >= clean_probability:
        for name, (transform, probability) in TRANSFORMS.items():
            if rng.random() < probability:
                x = transform(x, rng)
                applied.append(name)
    gain_db = rng.uniform(-25.0, 3.0)
    x = x / (np.max(np.abs(x)) + 1e-9) * 0.9 * 10 ** (gain_db / 20)
    return np.clip(x, -1.0, 1.0).astype(np.float32), applied
