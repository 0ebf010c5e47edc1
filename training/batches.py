"""Length-bucketed CTC batches with SpecAugment, as a Keras ``PyDataset``."""

from __future__ import annotations

import keras
import numpy as np

from dsp.features import FeatureConfig, mel_centres_hz
from models.text import encode
from training.model import ModelConfig, output_frames

MAX_LABEL = 256  # characters; longer transcripts are skipped


def spec_augment(features: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Two frequency masks and a few time masks, filled with the utterance mean."""
    x = features.copy()
    fill = float(x.mean())
    frames, bins = x.shape
    for _ in range(2):
        width = int(rng.integers(0, 16))
        start = int(rng.integers(0, max(1, bins - width)))
        x[:, start : start + width] = fill
    for _ in range(int(rng.integers(0, 1 + frames // 150))):
        width = int(rng.integers(0, min(30, max(1, frames // 10)) + 1))
        start = int(rng.integers(0, max(1, frames - width)))
        x[start : start + width] = fill
    return x


def quieter(features: np.ndarray, drop_db: float, log_floor: float) -> np.ndarray:
    """Log-mel ``features`` of the same audio ``drop_db`` quieter, exactly: the gain scales the mel power.

    The rendered training audio peaks between -26 and +2 dB of full scale,
    while a quiet talker far from a cheap USB microphone records 30-40 dB
    down, where soft consonants sink toward the log floor. Applying the gain
    here reaches those levels without rendering the data again.
    """
    power = np.maximum(np.exp(features.astype(np.float64)) - log_floor, 0.0)
    return np.log(power * 10 ** (-drop_db / 10) + log_floor).astype(np.float32)


def warped(features: np.ndarray, alpha: float, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel ``features`` with every frequency scaled by ``alpha`` (vocal tract length perturbation).

    The synthetic voices are a fixed set of vocal tracts, rendered once; real
    users bring every other one. Scaling the formants by a fresh factor each
    epoch spreads the voices the model hears without rendering the data again.
    Each mel band takes the power found at ``frequency / alpha``; above 85% of
    ``f_max`` the warp bends so that ``f_max`` stays where it is (Jaitly and
    Hinton's VTLP).
    """
    centres = mel_centres_hz(config)
    top = config.f_max
    bend = 0.85 * top * min(1.0, alpha)
    source = np.where(centres <= bend, centres / alpha,
                      bend / alpha + (centres - bend) * (top - bend / alpha) / (top - bend))
    position = np.interp(source, centres, np.arange(len(centres), dtype=np.float64))
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, len(centres) - 1)
    weight = position - low
    power = np.exp(features.astype(np.float64))
    return np.log(power[:, low] * (1.0 - weight) + power[:, high] * weight).astype(np.float32)


def usable(features: np.ndarray, text: str, config: ModelConfig) -> bool:
    """CTC needs an output frame per label plus one between repeated letters."""
    repeats = sum(1 for a, b in zip(text, text[1:]) if a == b)
    return int(output_frames(len(features), config)) >= len(text) + repeats


class CTCBatches(keras.utils.PyDataset):
    """Batches of similar length; ``y`` packs (output frames, labels...) per row for the CTC loss."""

    def __init__(self, features: list[np.ndarray], texts: list[str], config: ModelConfig, batch_frames: int,
                 augment: bool = True, seed: int = 0, level_drop_db: float = 0.0, warp: float = 0.0,
                 log_floor: float = FeatureConfig().log_floor, **kwargs) -> None:
        """When augmenting: ``level_drop_db``, half the utterances are made up to that much quieter;
        ``warp``, every utterance's frequencies are scaled by a factor drawn from 1 ± ``warp``."""
        super().__init__(**kwargs)
        self.level_drop_db, self.warp, self.log_floor = level_drop_db, warp, log_floor
        keep = [i for i, (f, t) in enumerate(zip(features, texts)) if usable(f, t, config) and len(t) <= MAX_LABEL]
        self.features = [features[i] for i in keep]
        self.labels = [np.array(encode(texts[i]), np.int32) for i in keep]
        self.config = config
        self.augment = augment
        self.rng = np.random.default_rng(seed)
        order = np.argsort([len(f) for f in self.features], kind="stable")
        self.batches: list[np.ndarray] = []
        current: list[int] = []
        for index in order:
            longest = len(self.features[index])
            if current and longest * (len(current) + 1) > batch_frames:
                self.batches.append(np.array(current))
                current = []
            current.append(int(index))
        if current:
            self.batches.append(np.array(current))
        self.on_epoch_end()

    def on_epoch_end(self) -> None:
        self.rng.shuffle(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int):
        members = self.batches[index]
        longest = max(len(self.features[i]) for i in members)
        longest += (-longest) % self.config.stride
        x = np.zeros((len(members), longest, self.config.n_mels), np.float32)
        y = np.zeros((len(members), 1 + MAX_LABEL), np.int32)  # fixed width: Keras wants one y shape
        for row, i in enumerate(members):
            feats = self.features[i].astype(np.float32)
            if self.augment:
                if self.warp:
                    feats = warped(feats, self.rng.uniform(1.0 - self.warp, 1.0 + self.warp))
                if self.level_drop_db and self.rng.random() < 0.5:
                    feats = quieter(feats, self.rng.uniform(0.0, self.level_drop_db), self.log_floor)
                feats = spec_augment(feats, self.rng)
            x[row, : len(feats)] = feats
            x[row, len(feats) :] = feats[-1] if len(feats) else 0.0  # pad with the last (silent) frame
            y[row, 0] = output_frames(len(feats), self.config)
            y[row, 1 : 1 + len(self.labels[i])] = self.labels[i]
        return x, y


def ctc_loss(y_true, y_pred):
    """Per-utterance CTC loss divided by label length; labels are never 0, the blank.

    On TensorFlow the sparse-label path runs the native CTC kernel: the dense
    path (what ``keras.ops.ctc_loss`` uses) is a graph-level scan about 100x
    slower on CPU. Other backends (JAX on the GPU machine) use ``keras.ops``.
    """
    from keras import backend, ops

    output_length = ops.cast(y_true[:, 0], "int32")
    labels = ops.cast(y_true[:, 1:], "int32")
    label_length = ops.sum(ops.cast(labels > 0, "int32"), axis=1)
    if backend.backend() == "tensorflow":
        import tensorflow as tf

        # The native kernel rejects empty labels (noise-only clips): give those rows a dummy
        # label and replace their loss by the exact empty-label CTC loss, -sum log p(blank).
        empty = tf.equal(label_length, 0)
        dummy = tf.concat([tf.ones_like(labels[:, :1]), tf.zeros_like(labels[:, 1:])], axis=1)
        safe_labels = tf.where(empty[:, None], dummy, labels)
        logits = tf.cast(y_pred, tf.float32)
        loss = tf.nn.ctc_loss(labels=tf.sparse.from_dense(safe_labels), logits=logits, label_length=None,
                              logit_length=output_length, logits_time_major=False, blank_index=0)
        valid = tf.sequence_mask(output_length, tf.shape(logits)[1], dtype=tf.float32)
        # Scaled like a transcript of one character per 10 frames, so long noise clips do not dominate.
        frames = tf.maximum(tf.cast(output_length, tf.float32), 1.0)
        blank_loss = -tf.reduce_sum(tf.nn.log_softmax(logits)[:, :, 0] * valid, axis=1) / (frames / 10.0)
        loss = tf.where(empty, blank_loss, loss)
    else:
        loss = ops.ctc_loss(labels, y_pred, label_length, output_length, mask_index=0)
    return loss / ops.maximum(ops.cast(label_length, "float32"), 1.0)
