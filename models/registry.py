"""The variants in a models folder, addressed by name only (never by path)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np

from dsp.vad import VadConfig
from models.arenas import cap_malloc_arenas
from models.blas_threads import limit_blas_threads
from models.engine import AcousticModel, ModelCard, ModelLoadError
from models.lm_decoder import HAVE_FLASHLIGHT, BeamSettings, LexiconBeamDecoder
from models.session import Final, TranscriptionSession, transcribe_samples

log = logging.getLogger(__name__)

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent


class UnknownModel(KeyError):
    """A variant name that is not in the model card."""


class ModelRegistry:
    """Loads each variant once per process, on first use (the default one eagerly)."""

    def __init__(self, models_dir: Path = DEFAULT_MODELS_DIR, default: str | None = None, threads: int = 1,
                 pool_size: int = 4, vad: VadConfig = VadConfig()) -> None:
        cap_malloc_arenas()  # before the threads that decode exist: see models/arenas.py
        limit_blas_threads()  # the spinning BLAS worker only takes CPU from other streams: models/blas_threads.py
        self.models_dir = Path(models_dir)
        self.vad = vad  # every session's segmenter settings (the server's --vad-mode)
        self.card = ModelCard.load(self.models_dir)
        self.default = default or self.card.default_variant
        self.threads = threads
        self.pool_size = pool_size
        self._loaded: dict[str, AcousticModel] = {}
        self._lock = threading.Lock()
        self._beam: LexiconBeamDecoder | None = None
        self._beam_checked = False
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

    def beam_decoder(self) -> LexiconBeamDecoder | None:
        """The card's lexicon + LM beam search, shared by all variants; None means greedy."""
        with self._lock:
            if not self._beam_checked:
                self._beam_checked = True
                settings = self.card.raw.get("decoder", {})
                lm_path = self.models_dir / settings.get("lm", "")
                if settings.get("type") != "beam":
                    pass
                elif not HAVE_FLASHLIGHT:
                    log.warning("flashlight-text is not installed: decoding greedily, without the language model")
                elif not lm_path.is_file():
                    log.warning("language model %s not found: decoding greedily", lm_path)
                else:
                    self._beam = LexiconBeamDecoder(lm_path, self.card.vocabulary, BeamSettings.from_dict(settings))
            return self._beam

    def new_session(self, name: str | None = None, **options) -> TranscriptionSession:
        """A streaming session on variant ``name`` with the card's decoder."""
        options.setdefault("vad", self.vad)
        return TranscriptionSession(self.get(name), beam=self.beam_decoder(), **options)

    def transcribe(self, samples: np.ndarray, name: str | None = None) -> list[Final]:
        return transcribe_samples(self.get(name), samples, self.vad, beam=self.beam_decoder())

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
