"""``/ws/transcribe``: the live streaming protocol (specified in ``docs/protocol.md``).

:class:`StreamProtocol` is the protocol without the socket: text and binary
messages in, JSON-ready replies out, so its rules read in one place.
:func:`serve_stream` is the socket loop around it. Each message is handled
to completion in the socket's own thread before the next is read, and the
transport (:mod:`server.ws_transport`) stops reading while too much is
queued, so a fast client is slowed down instead of buffered, and a slow or
dead one only ever holds its own thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import numpy as np
from simple_websocket import ConnectionClosed

from dsp.resample import TARGET_RATE
from dsp.stream_resample import StreamingResampler
from models.session import Event, Final, Partial, TranscriptionSession
from server.errors import ApiError
from server.metrics import Metrics
from server.shutdown import Drain
from server.transcriber import Transcriber

log = logging.getLogger(__name__)

MIN_RATE, MAX_RATE = 8000, 48000
SAMPLE_FORMATS = {"s16le": (np.dtype("<i2"), 1.0 / 32768.0), "f32le": (np.dtype("<f4"), 1.0)}

# WebSocket close codes (RFC 6455 section 7.4.1).
CLOSE_NORMAL, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_INTERNAL, CLOSE_TRY_LATER = 1000, 1001, 1008, 1011, 1013
POLL_S = 0.2  # how often a quiet stream looks for a shutdown
DRAIN_MAX_MESSAGES = 64  # on shutdown, frames already received that are still transcribed (bounded by the queue)


class StreamError(Exception):
    """A protocol error; with a ``close_code`` it ends the stream, without one the stream goes on."""

    def __init__(self, code: str, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code

    def reply(self) -> dict:
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass(frozen=True)
class StreamSettings:
    sample_rate: int = TARGET_RATE
    format: str = "s16le"
    model: str | None = None

    @classmethod
    def from_message(cls, message: dict) -> "StreamSettings":
        """Validate a config frame; unknown keys are ignored so clients can send more later."""
        rate = message.get("sample_rate", TARGET_RATE)
        if isinstance(rate, float) and rate.is_integer():
            rate = int(rate)
        if not isinstance(rate, int) or isinstance(rate, bool) or not MIN_RATE <= rate <= MAX_RATE:
            raise StreamError("invalid_config", f"sample_rate must be an integer from {MIN_RATE} to {MAX_RATE}",
                              CLOSE_POLICY)
        fmt = message.get("format", "s16le")
        if not isinstance(fmt, str) or fmt not in SAMPLE_FORMATS:  # a list or dict here is unhashable
            raise StreamError("invalid_config", f"format must be one of {', '.join(SAMPLE_FORMATS)}", CLOSE_POLICY)
        model = message.get("model")
        if model is not None and not isinstance(model, str):
            raise StreamError("invalid_config", "model must be a string", CLOSE_POLICY)
        return cls(rate, fmt, model if model and model != "default" else None)


class PcmDecoder:
    """Binary frames -> float32 samples; a sample split across two frames is carried over."""

    def __init__(self, fmt: str) -> None:
        self.dtype, self.scale = SAMPLE_FORMATS[fmt]
        self._leftover = b""

    def decode(self, data: bytes) -> np.ndarray:
        data = self._leftover + bytes(data)
        usable = len(data) - len(data) % self.dtype.itemsize
        self._leftover = data[usable:]
        samples = np.frombuffer(data[:usable], dtype=self.dtype).astype(np.float32) * self.scale
        # f32le may carry NaN/inf or values far outside [-1, 1]; neither may reach the VAD or the model.
        return np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def event_message(event: Event) -> dict:
    if isinstance(event, Partial):
        return {"type": "partial", "segment": event.segment, "text": event.text}
    assert isinstance(event, Final)
    return {"type": "final", "segment": event.segment, "text": event.text, "start": event.start, "end": event.end}


class StreamProtocol:
    """One stream's state: waiting for config -> streaming -> done."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self.settings: StreamSettings | None = None
        self.session: TranscriptionSession | None = None
        self.resampler: StreamingResampler | None = None
        self.decoder: PcmDecoder | None = None
        self.done = False
        self.processing_seconds = 0.0
        self.audio_seconds = 0.0

    def on_text(self, text: str) -> list[dict]:
        try:
            message = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return [StreamError("invalid_json", "text frames must be JSON objects").reply()]
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return [StreamError("invalid_message", 'text frames must be objects with a string "type"').reply()]
        kind = message["type"]
        if kind == "config":
            if self.session is not None:
                return [StreamError("config_too_late", "config must be the first message; ignored").reply()]
            return self._start(StreamSettings.from_message(message))
        if kind == "eof":
            replies = self._start(StreamSettings()) if self.session is None else []
            return replies + self._finish()
        return [StreamError("invalid_message", f"unknown message type {kind[:40]!r}").reply()]

    def on_binary(self, data: bytes) -> list[dict]:
        replies = self._start(StreamSettings()) if self.session is None else []
        assert self.decoder is not None and self.resampler is not None
        samples = self.decoder.decode(data)
        self.audio_seconds += len(samples) / self.settings.sample_rate
        return replies + self._run(lambda: self.session.accept(self.resampler.accept(samples)))

    def _start(self, settings: StreamSettings) -> list[dict]:
        try:
            session = self.transcriber.new_session(settings.model)
        except ApiError as exc:
            raise StreamError(exc.code, exc.message, CLOSE_POLICY) from None
        model = session.model
        self.settings = settings
        self.session = session
        self.resampler = StreamingResampler(settings.sample_rate, TARGET_RATE)
        self.decoder = PcmDecoder(settings.format)
        return [{"type": "ready", "model": model.name, "sample_rate": settings.sample_rate, "format": settings.format}]

    def drain(self) -> list[dict]:
        """The server is shutting down: finalise what was heard (as if eof came) so no final is lost."""
        if self.session is None:
            self.done = True
            return [{"type": "done"}]
        return self._finish()

    def _finish(self) -> list[dict]:
        def flush() -> list[Event]:
            return self.session.accept(self.resampler.flush()) + self.session.finish()
        replies = self._run(flush)
        self.done = True
        return replies + [{"type": "done"}]

    def _run(self, step) -> list[dict]:
        started = time.perf_counter()
        events = step()
        self.processing_seconds += time.perf_counter() - started
        return [event_message(e) for e in events]


class StreamSlots:
    """Counts open streams per process; ``limit`` 0 means no cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.limit and self._open >= self.limit:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._open -= 1


def _send(ws, message: dict) -> None:
    ws.send(json.dumps(message))


def _next_message(ws, idle_timeout: float, drain: Drain | None):
    """The next frame; None once the server is draining and what the client already sent is used up.

    Waits in short slices so a SIGTERM is noticed within ``POLL_S`` even while the client
    is quiet; raises ``idle_timeout`` after that long without a frame.
    """
    deadline = time.monotonic() + idle_timeout
    while True:
        if drain is not None and drain.draining:
            # Audio (or eof) already received belongs in the finals; anything later does not.
            return ws.receive(timeout=0)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StreamError("idle_timeout", f"nothing received for {idle_timeout:g} s", CLOSE_GOING_AWAY)
        message = ws.receive(timeout=min(POLL_S, remaining) if drain is not None else remaining)
        if message is not None:
            return message


def serve_stream(ws, transcriber: Transcriber, metrics: Metrics, slots: StreamSlots, idle_timeout: float,
                 drain: Drain | None = None) -> None:
    """The socket loop for one client; never raises for anything the client does.

    On shutdown (``drain``) the open segment is finalised and sent with ``done``, then the
    socket closes with 1001 (going away), so a client can tell it from its own ``eof``.
    """
    if not slots.acquire():
        metrics.stream_refused("busy")
        _send(ws, {"type": "error", "code": "busy", "message": "too many streams; try again later"})
        ws.close(CLOSE_TRY_LATER, "busy")
        return
    metrics.stream_opened()
    protocol = StreamProtocol(transcriber)
    outcome = "disconnected"
    try:
        drained_messages = 0
        while not protocol.done:
            message = _next_message(ws, idle_timeout, drain)
            if drain is not None and drain.draining:
                drained_messages += 1
            if message is None or drained_messages > DRAIN_MAX_MESSAGES:  # shutting down
                for reply in protocol.drain():
                    _send(ws, reply)
                outcome = "drained"
                ws.close(CLOSE_GOING_AWAY, "server shutting down")
                return
            if isinstance(message, (bytes, bytearray)):
                replies = protocol.on_binary(message)
            else:
                replies = protocol.on_text(message)
            for reply in replies:
                _send(ws, reply)
        outcome = "done"
        ws.close(CLOSE_NORMAL)
    except StreamError as exc:
        outcome = exc.code
        try:
            _send(ws, exc.reply())
            ws.close(exc.close_code or CLOSE_POLICY, exc.code)
        except (ConnectionClosed, OSError):
            pass
    except (ConnectionClosed, OSError):
        outcome = "disconnected"  # the client left (or stopped reading past the timeout): free everything now
    except Exception:  # noqa: BLE001 - a bug must end this stream only, never the process or other streams
        log.exception("stream failed")
        outcome = "internal_error"
        try:
            _send(ws, {"type": "error", "code": "internal_error", "message": "internal server error"})
            ws.close(CLOSE_INTERNAL, "internal error")
        except (ConnectionClosed, OSError):
            pass
    finally:
        slots.release()
        metrics.stream_closed(outcome)
        if protocol.audio_seconds > 0:
            metrics.transcribed("stream", protocol.audio_seconds, protocol.processing_seconds)
