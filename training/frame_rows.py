"""The streaming graph with every output frame as its own matrix row, for dynamic-range int8.

Dynamic-range int8 kernels quantize their float input on the fly, with one
scale per *batch row*. The Keras streaming graph feeds a whole chunk to each
convolution as one row, so a frame's rounding depended on the loudest frame in
its chunk, and the int8 model's text changed with where the chunk boundaries
fell (the same audio gave another text run over the whole utterance at once).

This graph computes what the Keras streaming graph computes, from the same
trained weights, but arranged so no quantized kernel mixes frames:

- the stem convolution gathers each output frame's input patch into one row
  and applies the stem as a fully connected layer (int8, one scale per row);
- each depthwise convolution gathers the ``kernel`` frames each output frame
  sees and sums them with the per-channel taps in float (the quantizer leaves
  element-wise products alone, and they are a tiny share of the work);
- pointwise convolutions and the head are fully connected layers on
  ``(frames, channels)`` (int8, one scale per row).

Batch norms are folded into the layer before (post-activation blocks) or
applied as a per-channel scale and shift (pre-activation). The time axis is
dynamic, so the same TFLite file runs one chunk or a whole utterance, and the
two give identical output: the property the evaluation checks.
"""

from __future__ import annotations

import numpy as np

from training.model import CausalStack


def _batch_norm(layer) -> tuple[np.ndarray, np.ndarray]:
    """Inference-time batch norm as ``x * scale + shift``."""
    gamma, beta, mean, variance = (np.asarray(w, np.float32) for w in layer.get_weights())
    scale = gamma / np.sqrt(variance + layer.epsilon)
    return scale, beta - mean * scale


def _weights(layer) -> list[np.ndarray]:
    return [np.asarray(w, np.float32) for w in layer.get_weights()]


class FrameRowGraph:
    """The trained stack's weights, frozen, and the row-wise streaming step over them."""

    def __init__(self, stack: CausalStack) -> None:
        c = self.config = stack.config
        self.mean, self.std = stack.mean, stack.std
        kernel, bias = _weights(stack.stem)
        scale, shift = _batch_norm(stack.stem_bn)
        self.stem = (kernel.reshape(c.stem_kernel * c.n_mels, c.channels) * scale, bias * scale + shift)
        self.blocks = []
        for i in range(c.blocks):
            taps, tap_bias = _weights(stack.depthwise[i])  # (kernel, channels, 1), (channels,)
            kernel, bias = _weights(stack.pointwise[i])  # (1, channels, channels), (channels,)
            # The depthwise bias passes linearly through the pointwise layer: fold it there.
            kernel, bias = kernel[0], tap_bias @ kernel[0] + bias
            norm = _batch_norm(stack.norms[i])
            if c.block == "postact":
                kernel, bias = kernel * norm[0], bias * norm[0] + norm[1]
            self.blocks.append({"taps": taps[:, :, 0], "kernel": kernel, "bias": bias, "norm": norm})
        kernel, bias = _weights(stack.head)
        self.head_norm = _batch_norm(stack.head_bn)
        if c.block == "postact":  # head_bn feeds the head directly: fold it in
            scale, shift = self.head_norm
            kernel, bias = scale[:, None] * kernel, shift @ kernel + bias
        self.head = (kernel, bias)

    def step(self, features, *caches):
        """(1, frames, mels) features and the caches -> (1, frames / stride, vocab) logits and new caches.

        ``frames`` may be any multiple of the stride; the indices that gather
        patches are built from the input's length at run time.
        """
        import tensorflow as tf

        c = self.config

        def dense(x, weights):
            return tf.nn.bias_add(tf.matmul(x, weights[0]), weights[1])

        def with_past(cache, x, frames: int, channels: int, new_caches: list):
            joined = tf.concat([tf.reshape(cache, (frames, channels)), x], axis=0)
            new_caches.append(joined[-frames:][None])
            return joined

        new_caches: list = []
        # Output frame j reads input frames j*stride .. j*stride+kernel-1 of the cache joined to the chunk.
        starts = tf.range(0, tf.shape(features)[1], c.stride)[:, None]
        stem_rows = starts + tf.range(c.stem_kernel)[None]
        block_rows = tf.range(tf.shape(starts)[0])[:, None] + tf.range(c.kernel)[None]

        x = (tf.reshape(features, (-1, c.n_mels)) - self.mean) / self.std
        joined = with_past(caches[0], x, c.stem_kernel - 1, c.n_mels, new_caches)
        patches = tf.reshape(tf.gather(joined, stem_rows), (-1, c.stem_kernel * c.n_mels))
        x = tf.nn.relu(dense(patches, self.stem))
        for block, cache in zip(self.blocks, caches[1:]):
            source = x
            if c.block == "preact":
                scale, shift = block["norm"]
                source = tf.nn.relu(x * scale + shift)
            joined = with_past(cache, source, c.kernel - 1, c.channels, new_caches)
            y = dense(tf.reduce_sum(tf.gather(joined, block_rows) * block["taps"], axis=1),
                      (block["kernel"], block["bias"]))
            x = x + (y if c.block == "preact" else tf.nn.relu(y))
        if c.block == "preact":
            scale, shift = self.head_norm
            x = tf.nn.relu(x * scale + shift)
        return (dense(x, self.head)[None], *new_caches)
