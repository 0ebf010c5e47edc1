"""A fixed-capacity float32 ring buffer: a stream's memory never grows with its length."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """FIFO of samples with a hard capacity; ``write`` refuses what does not fit."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self._data = np.zeros(capacity, dtype=np.float32)
        self._start = 0
        self._size = 0

    @property
    def capacity(self) -> int:
        return self._data.shape[0]

    def __len__(self) -> int:
        return self._size

    @property
    def free(self) -> int:
        return self.capacity - self._size

    def write(self, samples: np.ndarray) -> int:
        """Append as many samples as fit; returns how many were taken."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        count = min(len(samples), self.free)
        end = (self._start + self._size) % self.capacity
        first = min(count, self.capacity - end)
        self._data[end : end + first] = samples[:first]
        self._data[: count - first] = samples[first:count]
        self._size += count
        return count

    def peek(self, count: int) -> np.ndarray:
        """The oldest ``count`` samples (or fewer), without removing them."""
        count = min(count, self._size)
        index = (self._start + np.arange(count)) % self.capacity
        return self._data[index]

    def read(self, count: int) -> np.ndarray:
        out = self.peek(count)
        self._start = (self._start + len(out)) % self.capacity
        self._size -= len(out)
        return out

    def clear(self) -> None:
        self._start = 0
        self._size = 0
