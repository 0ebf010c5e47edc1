"""The variants in a models folder, addressed by name only (never by path)."""

from __future__ import annotations

import threading
from pathlib import Path

from models.engine import AcousticModel, ModelCard, ModelLoadError

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent


class UnknownModel(KeyError):
    """A variant name that is not in the model card."""


class ModelRegistry:
    """Loads each variant once per process, on first use (the default one eagerly)."""

    def __init__(self, models_dir: Path = DEFAULT_MODELS_DIR, default: str | None = None, threads: int = 1,
                 pool_size: int = 4) -> None:
        self.models_dir = Path(models_dir)
        self.card = ModelCard.load(self.models_dir)
        self.default = default or self.card.default_variant
        self.threads = threads
        self.pool_size = pool_size
        self._loaded: dict[str, AcousticModel] = {}
        self._lock = threading.Lock()
        if self.default not in self.card.variants:
            raise ModelLoadError(f"unknown model variant {self.default!r}; known: {', '.join(self.names())}")

    def names(self) -> list[str]:
        return list(self.card.variants)

    def available(self) -> list[str]:
        return [n for n in self.names() if (self.models_dir / self.card.variants[n]).is_file()]

    def get(self, name: str | None = None) -> AcousticModel:
        name = name or self.default
        if name not in self.card.variants:
            raise UnknownModel(name)
        with self._lock:
            if name not in self._loaded:
                path = self.models_dir / self.card.variants[name]
                self._loaded[name] = AcousticModel(path, self.card, name, self.threads, self.pool_size)
            return self._loaded[name]

    def describe(self) -> list[dict]:
        """Name, file size and metadata of every variant, for ``GET /api/models``."""
        rows = []
        for name in self.names():
            path = self.models_dir / self.card.variants[name]
            rows.append({
                "name": name,
                "file": path.name,
                "available": path.is_file(),
                "size_bytes": path.stat().st_size if path.is_file() else None,
                "default": name == self.default,
                "loaded": name in self._loaded,
                "sample_rate": self.card.features.sample_rate,
                "chunk_seconds": self.card.chunk_frames * self.card.features.hop_length / self.card.features.sample_rate,
                "quantization": VARIANT_DESCRIPTIONS.get(name, ""),
            })
        return rows


VARIANT_DESCRIPTIONS = {
    "no_opti": "float32, no optimisation",
    "default": "dynamic-range int8 weights",
    "float16": "float16 weights",
    "experimental": "int16 activations, int8 weights",
}
