"""A bounded FIFO of 16 kHz float32 audio between the capture thread and a consumer.

Why a separate class: the capture side must never block (PortAudio drops
audio if its thread stalls), while the consumer (a model or a network
connection) can stall for seconds. The queue absorbs that, caps memory at
``max_seconds`` by dropping the *oldest* audio with a log line, and tags every
chunk with its absolute sample index so the streamer can replay exactly the
audio a crashed server never acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

RATE = 16000


@dataclass
class Chunk:
    start: int  # absolute index of the first sample since capture began (16 kHz)
    samples: np.ndarray  # float32 mono

    @property
    def end(self) -> int:
        return self.start + len(self.samples)


class AudioQueue:
    """Thread-safe; ``put`` from the producer, ``get`` / ``push_front`` from one consumer."""

    def __init__(self, max_seconds: float = 120.0) -> None:
        self.max_samples = int(max_seconds * RATE)
        self._chunks: deque[Chunk] = deque()
        self._size = 0
        self._next_index = 0
        self._closed = False
        self._cond = threading.Condition()
        self.dropped_samples = 0
        self._last_drop_log = 0.0

    def put(self, samples: np.ndarray) -> None:
        """Append fresh audio; never blocks. Drops the oldest audio past the cap."""
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not len(samples):
            return
        with self._cond:
            self._chunks.append(Chunk(self._next_index, samples))
            self._next_index += len(samples)
            self._size += len(samples)
            dropped = 0
            while self._size > self.max_samples and len(self._chunks) > 1:
                old = self._chunks.popleft()
                self._size -= len(old.samples)
                dropped += len(old.samples)
            self._cond.notify_all()
        if dropped:
            self.dropped_samples += dropped
            now = time.monotonic()
            if now - self._last_drop_log > 5.0:
                self._last_drop_log = now
                log.warning("audio buffer full (%.0f s): dropped the oldest audio, %.1f s lost so far",
                            self.max_samples / RATE, self.dropped_samples / RATE)

    def push_front(self, chunks: list[Chunk]) -> None:
        """Give back audio for replay (after a lost connection), ahead of newer audio."""
        with self._cond:
            for chunk in reversed(chunks):
                if len(chunk.samples):
                    self._chunks.appendleft(chunk)
                    self._size += len(chunk.samples)
            self._cond.notify_all()

    def get(self, max_samples: int, timeout: float) -> Chunk | None:
        """Up to ``max_samples`` contiguous samples, or None after ``timeout`` / when drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._chunks:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return None
                self._cond.wait(remaining)
            first = self._chunks.popleft()
            pieces, start, end = [first.samples], first.start, first.end
            total = len(first.samples)
            while self._chunks and self._chunks[0].start == end and total + len(self._chunks[0].samples) <= max_samples:
                nxt = self._chunks.popleft()
                pieces.append(nxt.samples)
                end = nxt.end
                total += len(nxt.samples)
            self._size -= total
            return Chunk(start, pieces[0] if len(pieces) == 1 else np.concatenate(pieces))

    def close(self) -> None:
        """The producer is done: consumers drain what is left, then ``get`` returns None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed

    def drained(self) -> bool:
        with self._cond:
            return self._closed and not self._chunks

    @property
    def seconds(self) -> float:
        with self._cond:
            return self._size / RATE
