"""Log-mel features: the one implementation used by training and serving alike.

Frames are taken without centring or padding (frame ``i`` covers samples
``[i*hop, i*hop + win)``), so a stream cut into arbitrary pieces yields exactly
the frames the whole signal would: :class:`StreamingLogMel` only has to carry the
samples that do not yet fill a window. That property is what lets the server
stream with no train/serve skew.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class FeatureConfig:
    """Parameters of the log-mel front end; stored in the model card."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400  # 25 ms
    hop_length: int = 160  # 10 ms
    n_mels: int = 80
    f_min: float = 20.0
    f_max: float = 7600.0
    log_floor: float = 1e-6

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureConfig":
        known = {k: values[k] for k in cls.__dataclass_fields__ if k in values}
        return cls(**known)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def _band_edges_hz(config: FeatureConfig) -> np.ndarray:
    """Evenly spaced on the mel scale: band m rises from edge m, peaks at m + 1 and falls to m + 2."""
    return _mel_to_hz(np.linspace(_hz_to_mel(config.f_min), _hz_to_mel(config.f_max), config.n_mels + 2))


def mel_centres_hz(config: FeatureConfig) -> np.ndarray:
    """Centre frequency of each mel band, in Hz (the peaks of ``mel_filterbank``'s triangles)."""
    return _band_edges_hz(config)[1:-1]


@lru_cache(maxsize=8)
def mel_filterbank(config: FeatureConfig) -> np.ndarray:
    """Triangular HTK-style filters, shape ``(n_fft // 2 + 1, n_mels)``."""
    n_bins = config.n_fft // 2 + 1
    fft_freqs = np.linspace(0.0, config.sample_rate / 2.0, n_bins)
    hz_points = _band_edges_hz(config)
    bank = np.zeros((n_bins, config.n_mels), dtype=np.float64)
    for m in range(config.n_mels):
        left, centre, right = hz_points[m], hz_points[m + 1], hz_points[m + 2]
        rising = (fft_freqs - left) / max(centre - left, 1e-9)
        falling = (right - fft_freqs) / max(right - centre, 1e-9)
        bank[:, m] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank.astype(np.float32)


@lru_cache(maxsize=8)
def _window(win_length: int) -> np.ndarray:
    return np.hanning(win_length + 1)[:-1].astype(np.float32)  # periodic Hann


def num_frames(num_samples: int, config: FeatureConfig) -> int:
    """How many whole frames ``num_samples`` samples make."""
    if num_samples < config.win_length:
        return 0
    return 1 + (num_samples - config.win_length) // config.hop_length


def log_mel(samples: np.ndarray, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel energies of 16 kHz float samples in [-1, 1]; shape ``(frames, n_mels)``."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    frames = num_frames(samples.shape[0], config)
    if frames == 0:
        return np.zeros((0, config.n_mels), dtype=np.float32)
    strided = np.lib.stride_tricks.sliding_window_view(samples, config.win_length)[:: config.hop_length]
    strided = strided[:frames] * _window(config.win_length)
    spectrum = np.fft.rfft(strided, n=config.n_fft, axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
    mel = power @ mel_filterbank(config)
    return np.log(mel + config.log_floor).astype(np.float32)


class StreamingLogMel:
    """Feeds audio in pieces of any size and returns exactly the frames ``log_mel`` would."""

    def __init__(self, config: FeatureConfig = FeatureConfig()) -> None:
        self.config = config
        self._pending = np.zeros(0, dtype=np.float32)

    def accept(self, samples: np.ndarray) -> np.ndarray:
        joined = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        frames = num_frames(joined.shape[0], self.config)
        if frames == 0:
            self._pending = joined
            return np.zeros((0, self.config.n_mels), dtype=np.float32)
        used = frames * self.config.hop_length
        features = log_mel(joined[: used - self.config.hop_length + self.config.win_length], self.config)
        self._pending = joined[used:]
        return features

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
