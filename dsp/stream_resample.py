"""Stateful polyphase resampling for streams: chunked output equals ``resample_poly`` of the whole.

A WebSocket client may send 8-48 kHz audio in pieces of any size. Resampling
each piece on its own with ``scipy.signal.resample_poly`` would zero-pad every
piece's edges and click at each boundary, so the stream would be transcribed
from slightly different audio than the same file uploaded. This class applies
the very filter ``resample_poly`` designs (Kaiser-windowed sinc, ``half_len =
10 * max(up, down)``, zero-phase alignment) but keeps the input history between
calls and only emits an output sample once every input it depends on has
arrived. The cost is ``half_len / up`` input samples of latency (under 1 ms at
the usual rates); :meth:`flush` treats the future as silence, exactly as
``resample_poly``'s zero padding does at the end of a whole signal.
"""

from __future__ import annotations

from math import gcd

import numpy as np


def kaiser_lowpass(numtaps: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta))`` in numpy.

    Kept here so serving never imports ``scipy.signal``: that import alone costs
    about 75 MB of resident memory on a Pi-sized budget. ``cutoff`` is relative
    to Nyquist; the taps are scaled to unity gain at DC, as firwin does.
    """
    m = np.arange(numtaps) - 0.5 * (numtaps - 1)
    taps = cutoff * np.sinc(cutoff * m) * np.kaiser(numtaps, beta)
    return taps / taps.sum()


class StreamingResampler:
    """Feed samples at ``from_rate`` with :meth:`accept`; call :meth:`flush` once at the end."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        if from_rate <= 0 or to_rate <= 0:
            raise ValueError("sample rates must be positive")
        divisor = gcd(int(from_rate), int(to_rate))
        self.up = int(to_rate) // divisor
        self.down = int(from_rate) // divisor
        self.passthrough = self.up == self.down
        max_rate = max(self.up, self.down)
        self.half_len = 10 * max_rate
        # Same rates: no filter at all (firwin refuses a cutoff at Nyquist).
        taps = np.ones(1) if self.passthrough else kaiser_lowpass(2 * self.half_len + 1, 1.0 / max_rate) * self.up
        # Polyphase matrix: row p holds taps p, p+up, p+2up, ... so that output n,
        # with t = n*down + half_len, is sum_k poly[t % up, k] * x[t // up - k].
        self.taps_per_phase = -(-len(taps) // self.up)
        padded = np.zeros(self.taps_per_phase * self.up)
        padded[: len(taps)] = taps
        self._poly = padded.reshape(self.taps_per_phase, self.up).T.copy()
        self._history = np.zeros(0, dtype=np.float64)  # input samples from absolute index _base on
        self._base = 0
        self._received = 0  # input samples seen so far
        self._emitted = 0  # output samples produced so far
        self._flushed = False

    def _outputs_ready(self, final: bool) -> int:
        """How many outputs can be computed now (all of them at the end of the stream)."""
        if final:
            return -(-self._received * self.up // self.down)  # ceil, as resample_poly's length
        # Output n needs input index (n*down + half_len) // up to have arrived.
        last_ready = (self._received * self.up - 1 - self.half_len) // self.down
        return max(0, last_ready + 1)

    def _compute(self, count: int) -> np.ndarray:
        if count <= 0:
            return np.zeros(0, dtype=np.float32)
        n = np.arange(self._emitted, self._emitted + count)
        t = n * self.down + self.half_len
        newest = t // self.up  # newest input index each output depends on
        phase = t % self.up
        index = newest[:, None] - np.arange(self.taps_per_phase)[None, :] - self._base
        # Indices before the stream start or past its end (only at flush) read as silence.
        valid = (index >= 0) & (index < len(self._history))
        source = self._history if len(self._history) else np.zeros(1)
        gathered = np.where(valid, source[np.clip(index, 0, len(source) - 1)], 0.0)
        out = np.einsum("nk,nk->n", self._poly[phase], gathered)
        self._emitted += count
        return out.astype(np.float32)

    def _trim(self) -> None:
        """Drop history no future output can reach, so memory stays bounded."""
        t = self._emitted * self.down + self.half_len
        oldest_needed = t // self.up - (self.taps_per_phase - 1)
        drop = min(max(0, oldest_needed - self._base), len(self._history))
        if drop:
            self._history = self._history[drop:]
            self._base += drop

    def accept(self, samples: np.ndarray) -> np.ndarray:
        """Add input samples; returns the output samples that are now fully determined."""
        if self._flushed:
            raise RuntimeError("resampler already flushed")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if self.passthrough:
            return samples
        self._history = np.concatenate([self._history, samples.astype(np.float64)])
        self._received += len(samples)
        out = self._compute(self._outputs_ready(final=False) - self._emitted)
        self._trim()
        return out

    def flush(self) -> np.ndarray:
        """End of stream: the remaining outputs, with silence after the last input."""
        if self._flushed:
            return np.zeros(0, dtype=np.float32)
        self._flushed = True
        if self.passthrough:
            return np.zeros(0, dtype=np.float32)
        out = self._compute(self._outputs_ready(final=True) - self._emitted)
        self._history = np.zeros(0, dtype=np.float64)
        return out
