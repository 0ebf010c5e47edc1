"""TFLite acoustic model: one chunk of features + caches in, logits + caches out.

Loads with ``ai-edge-litert`` (falling back to the old ``tflite-runtime`` only when
LiteRT is missing); TensorFlow is never imported here. Interpreters are not
thread-safe, so each model keeps a small pool of them; streaming state lives
with the caller, which is what makes sessions cheap and independent.
"""

from __future__ import annotations

import json
import queue
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

try:
    from ai_edge_litert.interpreter import Interpreter
except ImportError:  # pragma: no cover - only on systems without LiteRT wheels
    from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]

from dsp.features import FeatureConfig


class ModelLoadError(RuntimeError):
    """A model file or card that is missing or unreadable; the message says which."""


@dataclass(frozen=True)
class ModelCard:
    """What serving needs from ``models/model.json``."""

    raw: dict

    @property
    def features(self) -> FeatureConfig:
        return FeatureConfig.from_dict(self.raw["features"])

    @property
    def vocabulary(self) -> list[str]:
        return self.raw["vocabulary"]

    @property
    def chunk_frames(self) -> int:
        return int(self.raw["chunk_frames"])

    @property
    def output_stride(self) -> int:
        return int(self.raw["output_stride"])

    @property
    def flush_frames(self) -> int:
        return int(self.raw["flush_frames"])

    @property
    def blank_penalty(self) -> float:
        """Subtracted from the blank logit before decoding (tuned with the LM; 0 in older cards)."""
        return float(self.raw.get("decoder", {}).get("blank_penalty", 0.0))

    @property
    def variants(self) -> dict[str, str]:
        return dict(self.raw["variants"])

    @property
    def default_variant(self) -> str:
        return self.raw.get("default_variant", "default")

    @classmethod
    def load(cls, models_dir: Path) -> "ModelCard":
        path = Path(models_dir) / "model.json"
        try:
            return cls(json.loads(path.read_text()))
        except FileNotFoundError as exc:
            raise ModelLoadError(f"model card not found: {path}") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelLoadError(f"model card is not valid JSON: {path}: {exc}") from exc


class AcousticModel:
    """One TFLite variant, shared by every session of a process."""

    def __init__(self, path: Path, card: ModelCard, name: str = "", threads: int = 1, pool_size: int = 4) -> None:
        self.path = Path(path)
        self.card = card
        self.name = name or self.path.stem
        if not self.path.is_file():
            raise ModelLoadError(f"model file not found: {self.path}")
        self._pool: queue.Queue = queue.Queue()
        for _ in range(max(1, pool_size)):
            self._pool.put(self._new_runner(threads))
        with self._runner() as runner:
            details = runner.get_input_details()
        self.state_names = sorted((n for n in details if n != "features"), key=lambda n: int(n[len("cache"):]))
        self.state_shapes = [tuple(details[n]["shape"]) for n in self.state_names]
        # The time axis is open in the file (one chunk or a whole utterance); the card sets the chunk.
        self.chunk_frames, self.n_mels = card.chunk_frames, int(details["features"]["shape"][2])

    def _new_runner(self, threads: int):
        try:
            interpreter = Interpreter(model_path=str(self.path), num_threads=threads)
            return interpreter.get_signature_runner("serving_default")
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"model file is not a usable TFLite model: {self.path}: {exc}") from exc

    @contextmanager
    def _runner(self) -> Iterator:
        runner = self._pool.get()
        try:
            yield runner
        finally:
            self._pool.put(runner)

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def initial_state(self) -> list[np.ndarray]:
        return [np.zeros(shape, np.float32) for shape in self.state_shapes]

    def step(self, chunk: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Logits ``(chunk_frames / stride, vocab)`` of one chunk, and the next state."""
        inputs = {name: tensor for name, tensor in zip(self.state_names, state)}
        inputs["features"] = np.asarray(chunk, np.float32).reshape(1, self.chunk_frames, self.n_mels)
        with self._runner() as runner:
            outputs = runner(**inputs)
        # The exported signature returns (logits, cache0', cache1', ...) as output_0..N.
        new_state = [outputs[f"output_{i + 1}"] for i in range(len(self.state_names))]
        return outputs["output_0"][0], new_state

    def _whole_chunks(self, features: np.ndarray) -> np.ndarray:
        return np.pad(np.asarray(features, np.float32), ((0, (-len(features)) % self.chunk_frames), (0, 0)))

    def run_at_once(self, features: np.ndarray) -> np.ndarray:
        """Logits of a whole feature matrix (zero-padded to whole chunks) in one invoke, from the initial state.

        The same file as :meth:`run`, over the whole utterance: what streaming
        must reproduce. Needs a file exported with an open time axis.
        """
        inputs = {name: tensor for name, tensor in zip(self.state_names, self.initial_state())}
        inputs["features"] = self._whole_chunks(features)[None]
        with self._runner() as runner:
            return runner(**inputs)["output_0"][0]

    def run(self, features: np.ndarray) -> np.ndarray:
        """Logits of a whole feature matrix, run chunk by chunk (zero-padded to whole chunks)."""
        state = self.initial_state()
        padded = self._whole_chunks(features)
        pieces = []
        for start in range(0, len(padded), self.chunk_frames):
            logits, state = self.step(padded[start : start + self.chunk_frames], state)
            pieces.append(logits)
        if not pieces:
            return np.zeros((0, len(self.card.vocabulary)), np.float32)
        return np.concatenate(pieces)
