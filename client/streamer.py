"""Stream the microphone to ``/ws/transcribe``; reconnect with backoff and lose nothing.

Why the bookkeeping: when the server dies mid-sentence, every final it had
not yet sent is gone with it. So the client keeps the audio it sent on the
current connection until a ``final`` covers it (the final's ``end`` is in
stream seconds, on the VAD's 30 ms frame grid), and on reconnect replays
everything after the last acknowledged final ahead of the audio buffered in
the meantime. The new server session then sees exactly the samples the old
one would have, and starts on the same frame boundary, so its transcript is
the one the old server would have produced: nothing lost, nothing doubled.

Audio is sent as ``f32le`` at 16 kHz: the capture side already resampled to
float32, and sending those exact floats keeps server mode identical to
``--local`` mode.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from typing import Callable

import numpy as np
import websocket  # websocket-client

from client.audioqueue import RATE, AudioQueue, Chunk
from client.outputs import Transcript

log = logging.getLogger(__name__)

FRAME = 480  # the server VAD's 30 ms frame; replay points stay on this grid
SEND_SAMPLES = RATE // 10  # ~100 ms per binary message
PING_EVERY_S = 10.0
READ_TIMEOUT_S = 35.0  # no frame (not even a pong) this long: the server is gone without a FIN


class FatalServerError(RuntimeError):
    """The server refused the stream's settings (e.g. unknown model): retrying cannot help."""


class _Connection:
    """One WebSocket session; the reader thread turns messages into acknowledgements and outputs."""

    def __init__(self, ws: websocket.WebSocket, base: int, on_final: Callable[[dict, int], None]) -> None:
        self.ws = ws
        self.base = base  # absolute sample index of this connection's stream second 0
        self.acked = base  # absolute index up to which finals cover the audio
        self.sent: deque[Chunk] = deque()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.dead = threading.Event()
        self.on_final = on_final
        self.reader = threading.Thread(target=self._read, name="ws-reader", daemon=True)

    def _read(self) -> None:
        try:
            while True:
                raw = self.ws.recv()
                if not raw:
                    break
                message = json.loads(raw) if isinstance(raw, str) else {}
                kind = message.get("type")
                if kind == "final":
                    with self.lock:
                        self.acked = max(self.acked, self.base + int(round(float(message["end"]) * RATE)))
                        while self.sent and self.sent[0].end <= self.acked:
                            self.sent.popleft()
                    self.on_final(message, self.base)
                elif kind == "error":
                    log.error("server error %s: %s", message.get("code"), message.get("message"))
                elif kind == "done":
                    self.done.set()
        except (websocket.WebSocketException, OSError, ValueError, KeyError) as exc:
            if not self.done.is_set():
                log.debug("connection read ended: %s", exc)
        finally:
            self.dead.set()

    def unacknowledged(self, replay_cap: int) -> list[Chunk]:
        """Audio after the last final, cut to the frame grid and to at most ``replay_cap`` samples."""
        with self.lock:
            start = self.acked
            if self.sent:
                newest = self.sent[-1].end
                if newest - start > replay_cap:
                    start += -(-(newest - start - replay_cap) // FRAME) * FRAME
                    log.warning("replaying only the last %.0f s of unacknowledged audio", replay_cap / RATE)
            out = []
            for chunk in self.sent:
                if chunk.end <= start:
                    continue
                cut = max(0, start - chunk.start)
                out.append(Chunk(chunk.start + cut, chunk.samples[cut:]))
            return out


class ServerStreamer:
    """Consumes an :class:`AudioQueue` until it is closed and drained, then flushes (eof -> done)."""

    def __init__(self, url: str, audio: AudioQueue, emit: Callable[[Transcript], None], token: str | None = None,
                 model: str | None = None, backoff: tuple[float, float] = (0.5, 10.0), flush_timeout: float = 20.0,
                 replay_seconds: float = 60.0, connect_timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/ws/transcribe"):
            self.url += "/ws/transcribe"
        self.audio = audio
        self.emit = emit
        self.token = token
        self.model = model
        self.backoff = backoff
        self.flush_timeout = flush_timeout
        self.replay_cap = int(replay_seconds * RATE)
        self.connect_timeout = connect_timeout
        self._segments = 0
        self.finished_cleanly = False
        self._flush_deadline: float | None = None

    # -- public ----------------------------------------------------------------------------

    def run(self) -> None:
        """Loop connect -> stream -> (lost: replay, back off) until everything is transcribed."""
        delay = self.backoff[0]
        failures = 0
        while True:
            if self.audio.closed and self._flush_deadline is None:
                self._flush_deadline = time.monotonic() + self.flush_timeout
            if self._flush_deadline is not None and time.monotonic() > self._flush_deadline:
                log.error("gave up flushing: server unreachable, %.1f s of audio not transcribed", self.audio.seconds)
                return
            try:
                conn = self._connect()
            except FatalServerError:
                raise
            except (websocket.WebSocketException, OSError, TimeoutError, ValueError) as exc:
                failures += 1
                if failures == 1 or failures % 10 == 0:
                    log.warning("server %s unreachable (%s); retrying, %.1f s of audio buffered",
                                self.url, exc or type(exc).__name__, self.audio.seconds)
                self._sleep(delay)
                delay = min(self.backoff[1], delay * 2)
                continue
            if failures:
                log.info("reconnected to %s after %d failed attempt(s)", self.url, failures)
            failures, delay = 0, self.backoff[0]
            if self._stream(conn):
                self.finished_cleanly = True
                return
            replay = conn.unacknowledged(self.replay_cap)
            self.audio.push_front(replay)
            log.warning("connection to %s lost; %.1f s of unacknowledged audio will be replayed",
                        self.url, sum(len(c.samples) for c in replay) / RATE)

    # -- internals ---------------------------------------------------------------------------

    def _sleep(self, seconds: float) -> None:
        seconds *= random.uniform(0.8, 1.2)
        if self._flush_deadline is not None:
            seconds = min(seconds, max(0.0, self._flush_deadline - time.monotonic()))
        time.sleep(seconds)

    def _connect(self) -> _Connection:
        headers = [f"Authorization: Bearer {self.token}"] if self.token else []
        ws = websocket.create_connection(self.url, timeout=self.connect_timeout, header=headers,
                                         enable_multithread=True)
        config = {"type": "config", "sample_rate": RATE, "format": "f32le"}
        if self.model:
            config["model"] = self.model
        ws.send(json.dumps(config))
        reply = json.loads(ws.recv())
        if reply.get("type") == "error":
            ws.close()
            if reply.get("code") == "busy":
                raise OSError("server busy")
            raise FatalServerError(f"server refused the stream: {reply.get('code')}: {reply.get('message')}")
        if reply.get("type") != "ready":
            ws.close()
            raise OSError(f"unexpected first message {reply.get('type')!r}")
        ws.settimeout(READ_TIMEOUT_S)  # pings every PING_EVERY_S keep a live server talking
        log.info("streaming to %s (model %s)", self.url, reply.get("model"))
        return _Connection(ws, -1, self._on_final)

    def _on_final(self, message: dict, base: int) -> None:
        text = str(message.get("text", "")).strip()
        if not text:
            return
        start = base / RATE + float(message.get("start", 0.0))
        end = base / RATE + float(message.get("end", 0.0))
        self.emit(Transcript.now(self._segments, text, start, end))
        self._segments += 1

    def _stream(self, conn: _Connection) -> bool:
        """Send until the queue is drained, then eof; True once the server said done."""
        last_ping = time.monotonic()
        try:
            while not conn.dead.is_set():
                if time.monotonic() - last_ping > PING_EVERY_S:
                    conn.ws.ping()
                    last_ping = time.monotonic()
                chunk = self.audio.get(SEND_SAMPLES, timeout=0.1)
                if chunk is None:
                    if self.audio.drained():
                        return self._finish(conn)
                    continue
                with conn.lock:
                    if conn.base < 0:  # first audio on this connection fixes its time origin
                        conn.base = conn.acked = chunk.start
                        conn.reader.start()
                    conn.sent.append(chunk)
                conn.ws.send_binary(np.asarray(chunk.samples, "<f4").tobytes())
            return False
        except (websocket.WebSocketException, OSError):
            return False
        finally:
            if not conn.done.is_set():
                self._abandon(conn)

    def _finish(self, conn: _Connection) -> bool:
        if conn.base < 0:  # nothing was ever sent on this connection
            conn.base = conn.acked = 0
            conn.reader.start()
        conn.ws.send(json.dumps({"type": "eof"}))
        deadline = max(time.monotonic() + 1.0, self._flush_deadline or time.monotonic() + self.flush_timeout)
        while not conn.done.is_set() and not conn.dead.is_set() and time.monotonic() < deadline:
            conn.done.wait(0.05)
        if conn.done.is_set():
            conn.reader.join(2.0)
            try:
                conn.ws.close()
            except (websocket.WebSocketException, OSError):
                pass
            return True
        return False

    @staticmethod
    def _abandon(conn: _Connection) -> None:
        try:
            conn.ws.close(timeout=1)
        except (websocket.WebSocketException, OSError):
            pass
        if conn.reader.is_alive():
            conn.reader.join(2.0)
