"""Run the Keras streaming graph chunk by chunk (calibration data, equivalence checks)."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from training.model import CausalStack, build_streaming_model


def run_keras_stream_chunks(stack: CausalStack,
                            features: np.ndarray) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Yield every chunk's input dict (with the caches the previous chunk produced) and its logits."""
    model = build_streaming_model(stack)
    c = stack.config
    caches = [np.zeros((1, *shape), np.float32) for shape in stack.cache_shapes()]
    frames = len(features)
    padded = np.pad(features, ((0, (-frames) % c.chunk_frames), (0, 0))).astype(np.float32)
    for start in range(0, len(padded), c.chunk_frames):
        chunk = padded[None, start : start + c.chunk_frames]
        inputs = {"features": chunk, **{f"cache{i}": cache for i, cache in enumerate(caches)}}
        outputs = model([chunk, *caches], training=False)
        caches = [np.asarray(t) for t in outputs[1:]]
        yield inputs, np.asarray(outputs[0])[0]
