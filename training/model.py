"""The streaming CTC acoustic model, built twice from one set of layers.

Every convolution is causal and padding-free: it sees ``kernel - 1`` frames of
its own past plus the current chunk. The *training* graph supplies that past as
zeros (whole utterances, any length); the *streaming* graph takes it as explicit
cache inputs and returns the new caches as outputs, with static cache shapes,
which is what TFLite needs (there is no RNN, so the time axis may stay open).
Both graphs share weights, so running the streaming graph chunk by chunk
computes exactly what the training graph computes at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import keras
import numpy as np
from keras import layers


@dataclass(frozen=True)
class ModelConfig:
    n_mels: int = 80
    channels: int = 256
    blocks: int = 12
    kernel: int = 11  # depthwise kernel of each residual block
    stem_kernel: int = 5
    stride: int = 2  # 10 ms feature frames -> 20 ms output frames
    vocab_size: int = 29
    chunk_frames: int = 16  # feature frames per streaming step (160 ms)
    dropout: float = 0.1
    # "preact": x + pw(dw(relu(bn(x)))), a linear branch that can add or subtract.
    # "postact": x + relu(bn(pw(dw(x)))), the session-1/2 design; its branches only add
    # non-negative values, so the residual stream grows unnormalised (kept to load old cards).
    block: str = "postact"

    def __post_init__(self) -> None:
        if self.block not in ("postact", "preact"):
            raise ValueError(f"unknown block design {self.block!r} (postact or preact)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


class CausalStack:
    """Owns the layers; ``__call__`` wires them for training or for streaming."""

    def __init__(self, config: ModelConfig, mean: np.ndarray | None = None, std: np.ndarray | None = None):
        self.config = config
        c = config
        mean = np.zeros(c.n_mels, np.float32) if mean is None else mean.astype(np.float32)
        std = np.ones(c.n_mels, np.float32) if std is None else std.astype(np.float32)
        self.mean, self.std = mean, std
        self.normalize = layers.Normalization(mean=mean, variance=std**2, name="feature_norm")
        self.stem = layers.Conv1D(c.channels, c.stem_kernel, strides=c.stride, padding="valid", name="stem")
        self.stem_bn = layers.BatchNormalization(name="stem_bn")
        self.depthwise = [layers.DepthwiseConv1D(c.kernel, padding="valid", name=f"dw{i}") for i in range(c.blocks)]
        self.pointwise = [layers.Conv1D(c.channels, 1, name=f"pw{i}") for i in range(c.blocks)]
        self.norms = [layers.BatchNormalization(name=f"bn{i}") for i in range(c.blocks)]
        self.dropouts = [layers.Dropout(c.dropout, name=f"drop{i}") for i in range(c.blocks)]
        self.head_bn = layers.BatchNormalization(name="head_bn")  # keeps logits in range as blocks add up
        self.head = layers.Dense(c.vocab_size, name="logits")

    def cache_shapes(self) -> list[tuple[int, int]]:
        """(frames, channels) of each cache, in input order."""
        c = self.config
        return [(c.stem_kernel - 1, c.n_mels)] + [(c.kernel - 1, c.channels)] * c.blocks

    def __call__(self, features, caches=None):
        """Training graph when ``caches`` is None, else the streaming graph."""
        streaming = caches is not None
        new_caches = []

        def with_past(x, index: int, frames: int):
            if not streaming:
                return layers.ZeroPadding1D((frames, 0))(x)
            joined = layers.Concatenate(axis=1)([caches[index], x])
            new_caches.append(joined[:, -frames:, :])
            return joined

        c = self.config
        x = self.normalize(features)
        x = self.stem(with_past(x, 0, c.stem_kernel - 1))
        x = layers.ReLU()(self.stem_bn(x))
        for i in range(c.blocks):
            if c.block == "preact":
                y = layers.ReLU()(self.norms[i](x))
                y = self.pointwise[i](self.depthwise[i](with_past(y, i + 1, c.kernel - 1)))
            else:
                y = self.depthwise[i](with_past(x, i + 1, c.kernel - 1))
                y = layers.ReLU()(self.norms[i](self.pointwise[i](y)))
            x = layers.Add()([x, self.dropouts[i](y)])
        x = self.head_bn(x)
        logits = self.head(layers.ReLU()(x) if c.block == "preact" else x)
        return (logits, new_caches) if streaming else logits


def deepened(stack: CausalStack, blocks: int) -> CausalStack:
    """``stack`` with residual blocks appended up to ``blocks``, computing what it computed.

    The model underfits and a wider or deeper one cannot be trained from
    scratch on two cores in a session, so a trained model grows instead: every
    trained weight is copied and each new block starts as (nearly) the identity,
    so training continues from the trained model's accuracy with more capacity.
    A post-activation block's output is relu(bn(...)): its batch norm starts at
    gamma 0 and beta 1e-3, a small constant that keeps the ReLU's gradient
    alive; a pre-activation block's last pointwise kernel starts at zero.
    """
    old = stack.config
    if blocks < old.blocks:
        raise ValueError(f"the model has {old.blocks} blocks; it can grow, not shrink, to {blocks}")
    if blocks == old.blocks:
        return stack
    grown = CausalStack(replace(old, blocks=blocks), stack.mean, stack.std)
    trained = {layer.name: layer for layer in build_training_model(stack).layers if layer.weights}
    for layer in build_training_model(grown).layers:  # every weighted layer is named; new blocks' names are new
        if layer.name in trained:
            layer.set_weights(trained[layer.name].get_weights())
    for i in range(old.blocks, blocks):
        if old.block == "preact":
            kernel, bias = grown.pointwise[i].get_weights()
            grown.pointwise[i].set_weights([np.zeros_like(kernel), np.zeros_like(bias)])
        else:
            gamma, beta, mean, variance = grown.norms[i].get_weights()
            grown.norms[i].set_weights([np.zeros_like(gamma), np.full_like(beta, 1e-3), mean, variance])
    return grown


def build_training_model(stack: CausalStack) -> keras.Model:
    features = keras.Input((None, stack.config.n_mels), name="features")
    return keras.Model(features, stack(features), name="ctc_train")


def build_streaming_model(stack: CausalStack) -> keras.Model:
    """Batch 1, caches in and out: the graph exported to TFLite (any number of frames, a multiple of the stride)."""
    c = stack.config
    features = keras.Input((None, c.n_mels), batch_size=1, name="features")
    caches = [
        keras.Input(shape, batch_size=1, name=f"cache{i}") for i, shape in enumerate(stack.cache_shapes())
    ]
    logits, new_caches = stack(features, caches)
    return keras.Model([features, *caches], [logits, *new_caches], name="ctc_stream")


def output_frames(feature_frames: np.ndarray | int, config: ModelConfig):
    """Output length of the training graph for inputs of ``feature_frames`` frames."""
    return (np.asarray(feature_frames) - 1) // config.stride + 1
