"""Sample-rate conversion and channel mixing to the model's 16 kHz mono float32.

Whole signals go through the same polyphase filter as streams
(:class:`dsp.stream_resample.StreamingResampler`, equal to
``scipy.signal.resample_poly``), fed in blocks so memory stays small, and
without importing ``scipy.signal`` at serving time.
"""

from __future__ import annotations

import numpy as np

from dsp.stream_resample import StreamingResampler

TARGET_RATE = 16000


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average channels of a ``(frames, channels)`` array; 1-D input passes through."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    return samples.reshape(-1)


def resample(samples: np.ndarray, from_rate: int, to_rate: int = TARGET_RATE) -> np.ndarray:
    """Polyphase resampling (anti-aliased, as ``resample_poly``), float32 out."""
    samples = np.asarray(samples, dtype=np.float32)
    if from_rate == to_rate or samples.size == 0:
        return samples
    resampler = StreamingResampler(int(from_rate), int(to_rate))
    block = 1 << 16
    pieces = [resampler.accept(samples[i : i + block]) for i in range(0, len(samples), block)]
    pieces.append(resampler.flush())
    return np.concatenate(pieces).astype(np.float32)
