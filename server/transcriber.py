"""Uploads through the one shared session: bytes -> 16 kHz samples -> ``TranscriptionSession`` -> Transcript.

This is the only place the HTTP layer touches the models package, and it
uses exactly what ``python -m models.transcribe`` uses (``decode_bytes`` and
``ModelRegistry.transcribe``, which carries the model card's decoder, greedy or
lexicon + LM beam), so an upload's text equals the command line's; streams get
their sessions from the same registry (:meth:`Transcriber.new_session`).
Model names are resolved here too, by name only, so no request can make the
server open a path it chooses.
"""

from __future__ import annotations

import time

from dsp.decode import AudioDecodeError, AudioTooLong, FfmpegMissing, decode_bytes
from dsp.resample import TARGET_RATE
from models.engine import AcousticModel, ModelLoadError
from models.registry import ModelRegistry, UnknownModel
from models.session import TranscriptionSession, finals_text
from server.errors import ApiError
from server.formats import Segment, Transcript, WordTiming
from server.metrics import Metrics


class Transcriber:
    """Shared by all request threads; holds the registry (models load once per process)."""

    def __init__(self, registry: ModelRegistry, metrics: Metrics, max_audio_seconds: float | None = None) -> None:
        self.registry = registry
        self.metrics = metrics
        self.max_audio_seconds = max_audio_seconds
        # Load the default variant (and the card's LM decoder, if any) now, once per process:
        # a broken model fails start-up, not the first request.
        self.default_model: AcousticModel | None = registry.get()
        registry.beam_decoder()

    @property
    def ready(self) -> bool:
        """True once the default variant is loaded: what ``/healthz`` reports."""
        return self.default_model is not None

    def model(self, name: str | None) -> AcousticModel:
        """The variant called ``name`` (default when empty); 422 for names we do not serve."""
        name = (name or "").strip() or None
        try:
            return self.registry.get(name)
        except UnknownModel:
            known = ", ".join(self.registry.available())
            raise ApiError(422, "unknown_model", f"unknown model {name!r}; available: {known}") from None
        except ModelLoadError:
            raise ApiError(422, "model_unavailable", f"model {name!r} is not available on this server") from None

    def new_session(self, name: str | None) -> TranscriptionSession:
        """A streaming session on the named variant, with the same decoder uploads use."""
        return self.registry.new_session(self.model(name).name)

    def decode(self, data: bytes):
        if not data:
            raise ApiError(400, "empty_file", "the uploaded file is empty")
        try:
            return decode_bytes(data, self.max_audio_seconds)
        except AudioTooLong as exc:
            raise ApiError(413, "audio_too_long", str(exc)) from None
        except FfmpegMissing as exc:
            raise ApiError(415, "unsupported_format", str(exc)) from None
        except AudioDecodeError as exc:
            raise ApiError(415, "undecodable_audio", f"cannot decode the upload as audio: {exc}") from None

    def transcribe(self, data: bytes, model_name: str | None = None) -> Transcript:
        """Decode and transcribe one upload; raises :class:`ApiError` for anything the client got wrong."""
        model = self.model(model_name)
        started = time.perf_counter()
        samples = self.decode(data)
        finals = self.registry.transcribe(samples, model.name)
        elapsed = time.perf_counter() - started
        duration = len(samples) / TARGET_RATE
        self.metrics.transcribed("upload", duration, elapsed)
        segments = [Segment(f.start, f.end, f.text, [WordTiming(w.text, round(w.start, 3), round(w.end, 3))
                                                      for w in f.words])
                    for f in finals if f.text]
        return Transcript(text=finals_text(finals), segments=segments,
                          duration=round(duration, 3), model=model.name, processing_time=round(elapsed, 3))
