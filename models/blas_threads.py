"""One BLAS thread per process: the server's parallelism is its streams, not one matrix product.

NumPy's OpenBLAS starts a worker per core and lets it spin between calls. The
feature extraction's small products gain nothing from it, yet the spinning
worker burnt about 1 CPU-s for every 2.2 s of transcription on this 2-core
machine (ten LJSpeech clips through ``ModelRegistry.transcribe``: process CPU
3.1 s against 2.1 s with one BLAS thread, wall time 2.2 s both), CPU that other
streams and, on a Pi, other programs need. A user's ``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` wins.
"""

from __future__ import annotations

import os

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit_blas_threads(threads: int = 1) -> bool:
    """True when the BLAS libraries loaded in this process were capped at ``threads``."""
    if any(name in os.environ for name in BLAS_THREAD_VARIABLES):
        return False
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional at runtime: without it NumPy keeps its default
        return False
    import numpy  # noqa: F401  (loads NumPy's BLAS so that the limit reaches it)

    threadpool_limits(limits=threads, user_api="blas")
    return True
