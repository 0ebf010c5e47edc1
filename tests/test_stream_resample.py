"""The streaming resampler must give the same audio as resampling the whole signal at once."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from dsp.resample import resample
from dsp.stream_resample import StreamingResampler


def _chunked(signal: np.ndarray, from_rate: int, to_rate: int, sizes: list[int]) -> np.ndarray:
    resampler = StreamingResampler(from_rate, to_rate)
    pieces, offset, i = [], 0, 0
    while offset < len(signal):
        size = sizes[i % len(sizes)]
        pieces.append(resampler.accept(signal[offset: offset + size]))
        offset += size
        i += 1
    pieces.append(resampler.flush())
    return np.concatenate(pieces)


@pytest.mark.parametrize("from_rate", [8000, 11025, 22050, 32000, 44100, 48000])
def test_chunked_matches_whole_signal(from_rate: int) -> None:
    rng = np.random.default_rng(from_rate)
    t = np.arange(int(from_rate * 1.3)) / from_rate
    signal = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    whole = resample(signal, from_rate, 16000)
    # Odd chunk sizes, single samples and big pieces: the boundaries must not matter.
    streamed = _chunked(signal, from_rate, 16000, [1, 7, 333, 4096, 160, 2])
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)


def test_passthrough_at_same_rate() -> None:
    signal = np.linspace(-1, 1, 1000, dtype=np.float32)
    resampler = StreamingResampler(16000, 16000)
    out = np.concatenate([resampler.accept(signal[:300]), resampler.accept(signal[300:]), resampler.flush()])
    np.testing.assert_array_equal(out, signal)


def test_history_stays_bounded() -> None:
    resampler = StreamingResampler(44100, 16000)
    chunk = np.zeros(4410, dtype=np.float32)
    for _ in range(200):  # 20 s of audio
        resampler.accept(chunk)
    assert len(resampler._history) < 2 * resampler.taps_per_phase + len(chunk)


def test_upsampling_matches_scipy() -> None:
    signal = np.random.default_rng(1).standard_normal(5000).astype(np.float32)
    streamed = _chunked(signal, 8000, 16000, [123])
    np.testing.assert_allclose(streamed, resample_poly(signal, 2, 1), atol=1e-5)
