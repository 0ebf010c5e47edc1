"""Sample-rate conversion and channel mixing to the model's 16 kHz mono float32."""

from __future__ import annotations

from math import gcd

import numpy as np
from scipy.signal import resample_poly

TARGET_RATE = 16000


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels of a ``(frames, channels)`` array; 1-D input passes through."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples.reshape(-1)


def resample(samples: np.ndarray, from_rate: int, to_rate: int = TARGET_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased), float32 out."""
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or samples.size == 0:
        return samples
    divisor = gcd(int(from_rate), int(to_rate))
    return resample_poly(samples, to_rate // divisor, from_rate // divisor).astype(np.float32)
