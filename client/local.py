"""``--local``: transcribe in this process with the very session the server uses.

:class:`models.session.TranscriptionSession` (from ``ModelRegistry.new_session``, so with the
model card's decoder) is fed the same 16 kHz float32
chunks the streamer would send, so ``--local`` and ``--server`` print the same
words for the same audio; only where the model runs differs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from client.audioqueue import RATE, AudioQueue
from client.outputs import Transcript
from dsp.vad import VadConfig
from models.registry import DEFAULT_MODELS_DIR, ModelRegistry
from models.session import Final

log = logging.getLogger(__name__)


class LocalTranscriber:
    """Consumes an :class:`AudioQueue` until it is closed and drained, then finishes the session."""

    def __init__(self, audio: AudioQueue, emit: Callable[[Transcript], None], models_dir: Path = DEFAULT_MODELS_DIR,
                 model: str | None = None, threads: int = 1, vad_mode: int | None = None) -> None:
        self.audio = audio
        self.emit = emit
        registry = ModelRegistry(Path(models_dir), None if model in (None, "", "default") else model, threads=threads,
                                 pool_size=1,
                                 vad=VadConfig() if vad_mode is None else VadConfig(aggressiveness=vad_mode))
        self.registry = registry
        self.model = registry.get()  # load now: a bad model is a startup error, not a runtime one
        registry.beam_decoder()  # and the card's LM decoder, which finals use as on the server
        log.info("transcribing locally with model %s from %s", self.model.name, models_dir)
        self._segments = 0
        self.finished_cleanly = False

    def run(self) -> None:
        session = self.registry.new_session(self.model.name)
        next_index = None
        while True:
            chunk = self.audio.get(RATE, timeout=0.2)
            if chunk is None:
                if self.audio.drained():
                    break
                continue
            if next_index is not None and chunk.start != next_index:
                log.warning("%.1f s of audio was dropped before transcription", (chunk.start - next_index) / RATE)
            next_index = chunk.end
            self._emit(session.accept(chunk.samples))
        self._emit(session.finish())
        self.finished_cleanly = True

    def _emit(self, events) -> None:
        for event in events:
            if isinstance(event, Final) and event.text.strip():
                self.emit(Transcript.now(self._segments, event.text.strip(), event.start, event.end))
                self._segments += 1
