"""Real clients: a WebSocket streamer that sends at real-time pace, and an upload loop.

The streamer sends each frame only once the audio in it "exists" (as a
microphone would) and records when every frame left and when every message
came back, on one monotonic clock; latencies are computed from those two
lists. A second thread reads, as a live client must, so partials are timed
when they arrive rather than when we get round to reading them. Every loop
here is bounded in count and in time.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import requests
import websocket

from bench.common import RATE, to_pcm16


@dataclass
class StreamRun:
    """What one stream sent (frame times) and received (timed messages)."""

    frame_s: float
    audio_s: float
    started: float = 0.0
    send_times: list[float] = field(default_factory=list)
    messages: list[tuple[float, dict]] = field(default_factory=list)
    close_code: int | None = None
    error: str | None = None

    def sent_at(self, position_s: float) -> float:
        """Wall time by which the audio up to ``position_s`` had been sent."""
        index = int(np.ceil(max(position_s, 1e-9) / self.frame_s)) - 1
        return self.send_times[min(max(index, 0), len(self.send_times) - 1)]

    def of_type(self, kind: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.messages if m.get("type") == kind]

    @property
    def done(self) -> bool:
        return any(m.get("type") == "done" for _, m in self.messages)

    @property
    def errors(self) -> int:
        return len(self.of_type("error")) + (1 if self.error else 0)

    def final_texts(self) -> list[str]:
        return [m["text"] for _, m in self.of_type("final") if m.get("text")]


def _receive(ws: websocket.WebSocket, run: StreamRun) -> None:
    try:
        while True:
            opcode, data = ws.recv_data(control_frame=True)
            now = time.monotonic()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                run.close_code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
                return
            if opcode == websocket.ABNF.OPCODE_TEXT:
                run.messages.append((now, json.loads(data)))
    except (websocket.WebSocketException, OSError) as exc:
        if not run.done:
            run.error = run.error or f"receive: {type(exc).__name__}: {exc}"


def _close(ws: websocket.WebSocket) -> None:
    """Close handshake, then always drop the socket: websocket-client's ``close`` returns without
    closing it when the reader already saw the server's close, and a half-open socket keeps the
    server's reader thread (and a stopping gunicorn worker) waiting for its timeout."""
    try:
        ws.close(timeout=2)
    finally:
        ws.shutdown()


def _open_stream(ws_url: str, timeout_s: float, run: StreamRun):
    """Connect, send the config frame and start the reader; None (with ``run.error`` set) if it failed."""
    try:
        ws = websocket.create_connection(ws_url, timeout=timeout_s)
    except (websocket.WebSocketException, OSError) as exc:
        run.error = f"connect: {type(exc).__name__}: {exc}"
        return None
    reader = threading.Thread(target=_receive, args=(ws, run), name="ws-reader", daemon=True)
    try:
        ws.send(json.dumps({"type": "config", "sample_rate": RATE, "format": "s16le"}))
    except (websocket.WebSocketException, OSError) as exc:
        run.error = f"config: {type(exc).__name__}: {exc}"
        _close(ws)
        return None
    reader.start()
    run.started = time.monotonic()
    return ws, reader


@contextmanager
def _stream_session(ws_url: str, deadline: float, run: StreamRun,
                    min_close_wait_s: float = 1.0) -> Iterator[websocket.WebSocket | None]:
    """The socket a sender writes frames to (None when it could not open), ended the same way for every sender.

    After the sender's block: ``eof``, then the server's close awaited until ``deadline`` (at least
    ``min_close_wait_s``); a failed send is recorded in ``run.error`` rather than raised, so one broken
    stream does not end a bench, and the socket is always dropped.
    """
    opened = _open_stream(ws_url, min(60.0, deadline - time.monotonic()), run)
    if opened is None:
        yield None
        return
    ws, reader = opened
    try:
        yield ws
        ws.send(json.dumps({"type": "eof"}))
        reader.join(timeout=max(min_close_wait_s, deadline - time.monotonic()))
        if reader.is_alive():
            run.error = run.error or "no close from the server before the time limit"
    except (websocket.WebSocketException, OSError) as exc:
        run.error = run.error or f"send: {type(exc).__name__}: {exc}"
    finally:
        _close(ws)
        reader.join(timeout=5)


def stream_audio(ws_url: str, samples: np.ndarray, realtime: bool = True, frame_s: float = 0.1,
                 timeout_s: float = 120.0, progress: list[float] | None = None) -> StreamRun:
    """Stream 16 kHz float samples as s16le; ``realtime`` paces frames at the audio's own rate.

    ``progress`` (a one-element list), when given, is updated with the seconds of audio sent so far,
    so a sampler in another thread can tie memory to stream position.
    """
    run = StreamRun(frame_s, len(samples) / RATE)
    step = int(frame_s * RATE)
    deadline = time.monotonic() + timeout_s
    with _stream_session(ws_url, deadline, run) as ws:
        if ws is None:
            return run
        for k, start in enumerate(range(0, len(samples), step)):
            if time.monotonic() > deadline:
                run.error = f"send: stopped after {timeout_s:.0f} s"
                break
            if realtime:
                wait = run.started + (k + 1) * frame_s - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            ws.send_binary(to_pcm16(samples[start:start + step]))
            run.send_times.append(time.monotonic())
            if progress is not None:
                progress[0] = (start + step) / RATE
    return run


@dataclass
class UploadLoop:
    """Posts WAVs to ``/api/transcribe`` one after another (with ``gap_s`` between) until stopped.

    Bounded by ``max_count`` and by the caller's stop; status codes other than
    200 count as errors.
    """

    url: str
    payloads: list[tuple[bytes, float]]  # (wav bytes, audio seconds)
    gap_s: float = 1.0
    max_count: int = 200
    timeout_s: float = 60.0
    results: list[tuple[float, float, int]] = field(default_factory=list)  # (seconds, audio, status)
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> "UploadLoop":
        self._thread = threading.Thread(target=self._run, name="uploads", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout_s + 5)

    def _run(self) -> None:
        for count in range(self.max_count):
            if self._stop.is_set():
                return
            data, seconds = self.payloads[count % len(self.payloads)]
            started = time.monotonic()
            try:
                response = requests.post(f"{self.url}/api/transcribe", files={"file": ("clip.wav", data)},
                                         timeout=self.timeout_s)
                self.results.append((time.monotonic() - started, seconds, response.status_code))
                if response.status_code != 200:
                    self.failures.append(f"HTTP {response.status_code}: {response.text[:120]}")
            except requests.RequestException as exc:
                self.failures.append(f"{type(exc).__name__}: {exc}")
            self._stop.wait(self.gap_s)

    @property
    def rtf(self) -> float:
        ok = [(s, a) for s, a, status in self.results if status == 200]
        return sum(s for s, _ in ok) / sum(a for _, a in ok) if ok else float("nan")


def upload_text(url: str, samples: np.ndarray, timeout_s: float = 120.0) -> list[str]:
    """The segment texts the upload path returns for these samples: the reference a stream's finals must match."""
    from bench.common import wav_bytes

    response = requests.post(f"{url}/api/transcribe", files={"file": ("program.wav", wav_bytes(samples))},
                             timeout=timeout_s)
    response.raise_for_status()
    return [s["text"] for s in response.json()["segments"] if s["text"]]


def stream_repeated(ws_url: str, samples: np.ndarray, total_s: float, frame_s: float = 0.5,
                    timeout_s: float = 600.0, progress: list[float] | None = None) -> StreamRun:
    """One long stream: ``samples`` over and over until ``total_s`` of audio, as fast as the server takes it.

    Nothing long is ever held here (a one-hour float array would be 230 MB on
    the client); the stream ends early, with ``eof``, when ``timeout_s`` runs out.
    """
    run = StreamRun(frame_s, 0.0)
    step = int(frame_s * RATE)
    frames = [to_pcm16(samples[i:i + step]) for i in range(0, len(samples) - step + 1, step)]
    deadline = time.monotonic() + timeout_s
    with _stream_session(ws_url, deadline, run, min_close_wait_s=120.0) as ws:
        if ws is None:
            return run
        for k in range(int(total_s / frame_s)):
            if time.monotonic() > deadline:
                run.error = f"stopped by the {timeout_s:.0f} s time limit"
                break
            ws.send_binary(frames[k % len(frames)])
            run.audio_s = (k + 1) * frame_s
            if progress is not None:
                progress[0] = run.audio_s
    return run
