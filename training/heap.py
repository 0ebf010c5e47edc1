"""Keep glibc's heap between training steps: TensorFlow's generator dataset has it hand memory back at once.

TensorFlow 2.21's ``generator_dataset_op`` (what Keras feeds a ``PyDataset``
through) sets glibc's ``M_TRIM_THRESHOLD`` to 128 KiB when it starts ("Memory
patch applied" in the log). Setting that parameter also freezes glibc's mmap
threshold at its 128 KiB default, so every activation tensor of a step (15 to
30 MB each here) is mapped fresh and unmapped again, and the kernel zeroes its
pages each time. On the 2-core training machine that made a step of 24000
frames take 2.7 s of wall time and 2.2 CPU-s in the kernel; with the
thresholds set back to large values a step takes 1.5 s (``python -m
bench.train_step``). The process keeps the memory of its largest step instead,
which is what a training run wants.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from functools import lru_cache

import keras

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD_BYTES = 1 << 30  # hand memory back only above 1 GiB of free heap top
MMAP_THRESHOLD_BYTES = 32 << 20  # glibc's largest allowed mmap threshold on 64-bit


@lru_cache(maxsize=1)
def _mallopt():
    """glibc's ``mallopt``, or None on another C library (musl, macOS), where there is nothing to undo."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt


def keep_heap_memory() -> bool:
    """Large trim and mmap thresholds for this process; True when glibc took both."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    return bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)) and bool(mallopt(M_MMAP_THRESHOLD,
                                                                                 MMAP_THRESHOLD_BYTES))


class KeepHeapMemory(keras.callbacks.Callback):
    """Undo the dataset's setting before every step: each epoch's new iterator applies it again.

    A ``mallopt`` call costs microseconds against a step of a second or more.
    """

    def on_train_batch_begin(self, batch, logs=None) -> None:
        keep_heap_memory()
