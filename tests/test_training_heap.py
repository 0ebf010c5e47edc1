"""training/heap.py: after TensorFlow's generator dataset trims glibc's heap, training gets it back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# In a child process, since the heap setting is process-wide: page faults per 16 MB array
# allocated and freed, with the heap as TensorFlow 2.21's generator dataset leaves it
# (M_TRIM_THRESHOLD set to 128 KiB, done here directly: the dataset does it on one of its
# threads, at a moment a test cannot wait for), then after keep_heap_memory().
PROBE = """
import json, resource
import numpy as np
from training.heap import M_TRIM_THRESHOLD, _mallopt, keep_heap_memory

def faults_per_array():
    np.ones(2 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        array = np.ones(2 << 20)  # 16 MB, every page written
        del array
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20

_mallopt()(M_TRIM_THRESHOLD, 128 * 1024)
trimmed = faults_per_array()
kept = keep_heap_memory()
print(json.dumps({"trimmed": trimmed, "kept": kept, "after": faults_per_array()}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_training_reuses_freed_tensor_memory_after_the_dataset_trimmed_the_heap():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    faults = json.loads(done.stdout.strip().splitlines()[-1])
    assert faults["kept"], faults
    assert faults["trimmed"] > 100, faults  # each array mapped afresh and faulted in (520 per array here)
    assert faults["after"] < 10, faults  # the freed heap is reused (0 here)
