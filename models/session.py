"""The one path from PCM to text that upload, WebSocket and Pi client share.

``TranscriptionSession.accept(samples) -> events`` and ``finish() -> events``.
Audio passes through a bounded ring buffer into the VAD in 30 ms frames; each
speech segment gets a fresh :class:`UtteranceRecognizer`. Nothing here knows
about HTTP or sockets, and nothing above it knows about TFLite.

Event rules: segments are numbered from 0 in order; a segment gets its number
with its first non-empty text, so noise that fools the VAD yields no events;
every numbered segment gets exactly one ``Final``, after all its ``Partial``s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsp.ring import RingBuffer
from dsp.vad import FRAME_SAMPLES, SAMPLE_RATE, SpeechAudio, SpeechEnd, SpeechStart, VadConfig, VadSegmenter
from models.decoder import Word
from models.engine import AcousticModel
from models.lm_decoder import LexiconBeamDecoder
from models.recognizer import UtteranceRecognizer

PARTIAL_INTERVAL_S = 0.3


@dataclass(frozen=True)
class Partial:
    segment: int
    text: str


@dataclass(frozen=True)
class Final:
    segment: int
    text: str
    start: float
    end: float
    words: list[Word] = field(default_factory=list, compare=False)


Event = Partial | Final


class TranscriptionSession:
    """A stream of 16 kHz mono float32 audio in, partial and final transcripts out."""

    def __init__(self, model: AcousticModel, vad: VadConfig = VadConfig(), ring_seconds: float = 2.0,
                 partial_interval: float = PARTIAL_INTERVAL_S, beam: LexiconBeamDecoder | None = None) -> None:
        self.model = model
        self.beam = beam
        self.segmenter = VadSegmenter(vad)
        self.ring = RingBuffer(int(ring_seconds * SAMPLE_RATE))
        self.partial_interval = partial_interval
        self.audio_seconds = 0.0
        self._next_segment = 0
        self._recognizer: UtteranceRecognizer | None = None
        self._segment: int | None = None
        self._segment_start = 0.0
        self._last_partial_text = ""
        self._since_partial = 0.0
        self.finished = False

    def accept(self, samples: np.ndarray) -> list[Event]:
        """Feed audio of any length; memory stays bounded by the ring buffer."""
        if self.finished:
            raise RuntimeError("session already finished")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.audio_seconds += len(samples) / SAMPLE_RATE
        events: list[Event] = []
        offset = 0
        while offset < len(samples):
            offset += self.ring.write(samples[offset:])
            while len(self.ring) >= FRAME_SAMPLES:
                events += self._on_frame(self.ring.read(FRAME_SAMPLES))
        return events

    def finish(self) -> list[Event]:
        """End of stream: the last partial frame is padded, the open segment finalised."""
        if self.finished:
            return []
        events: list[Event] = []
        if len(self.ring):
            tail = self.ring.read(len(self.ring))
            events += self._on_frame(np.pad(tail, (0, FRAME_SAMPLES - len(tail))))
        for vad_event in self.segmenter.flush():
            events += self._on_vad(vad_event)
        self.finished = True
        return events

    def _on_frame(self, frame: np.ndarray) -> list[Event]:
        events: list[Event] = []
        for vad_event in self.segmenter.accept_frame(frame):
            events += self._on_vad(vad_event)
        return events

    def _on_vad(self, event) -> list[Event]:
        if isinstance(event, SpeechStart):
            self._recognizer = UtteranceRecognizer(self.model, self.beam)
            self._segment = None
            self._segment_start = max(0.0, event.time)
            self._last_partial_text = ""
            self._since_partial = 0.0
            return []
        if isinstance(event, SpeechAudio):
            assert self._recognizer is not None
            self._recognizer.accept(event.samples)
            self._since_partial += len(event.samples) / SAMPLE_RATE
            return self._maybe_partial()
        if isinstance(event, SpeechEnd):
            return self._final(event.time)
        return []

    def _maybe_partial(self) -> list[Event]:
        text = self._recognizer.text
        if not text:
            return []
        if self._segment is None:
            self._segment = self._next_segment
            self._next_segment += 1
        if text != self._last_partial_text or self._since_partial >= self.partial_interval:
            self._last_partial_text = text
            self._since_partial = 0.0
            return [Partial(self._segment, text)]
        return []

    def _final(self, end: float) -> list[Event]:
        recognizer, self._recognizer = self._recognizer, None
        if recognizer is None:
            return []
        text = recognizer.finish()
        if self._segment is None and not text:
            return []
        segment = self._segment if self._segment is not None else self._next_segment
        if self._segment is None:
            self._next_segment += 1
        self._segment = None
        words = [Word(w.text, w.start + self._segment_start, w.end + self._segment_start) for w in recognizer.words()]
        return [Final(segment, text, round(self._segment_start, 3), round(end, 3), words)]


def finals_text(finals: list[Final]) -> str:
    """One recording's transcript: its finals' texts, space-joined (what an upload returns as ``text``)."""
    return " ".join(f.text for f in finals if f.text)


def transcribe_samples(model: AcousticModel, samples: np.ndarray, vad: VadConfig = VadConfig(),
                       beam: LexiconBeamDecoder | None = None) -> list[Final]:
    """A whole recording through the same session the streams use; returns its finals."""
    session = TranscriptionSession(model, vad, beam=beam)
    events = session.accept(samples) + session.finish()
    return [e for e in events if isinstance(e, Final)]
