"""Fuzzing the WebSocket protocol with hypothesis: any sequence of frames gets protocol-conform replies.

In-process, :func:`server.stream.serve_stream` (the real socket loop with the
real model) is driven by a scripted socket: random sequences of config
frames with odd fields, ``eof``, unknown types, JSON garbage, deep nesting,
non-JSON text, binary frames of any length (odd byte counts, f32le NaN/inf),
ending with the client vanishing, going idle or waiting for ``done``.
Every run must end without an ``internal_error``, with valid JSON messages in
protocol order. A smaller number of sequences then goes to the real server
over loopback. Case counts print at the end (``-s``); ``FUZZ_SCALE`` scales.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simple_websocket import ConnectionClosed

from server.metrics import Metrics
from server.stream import StreamSlots, serve_stream
from test_server_support import receive_all, start_server, stop_server

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
FUZZ_SETTINGS = dict(deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])
COUNTS: dict[str, list[int]] = {}
TYPES = {"ready", "partial", "final", "error", "done"}
ERROR_CODES = {"invalid_json", "invalid_message", "config_too_late", "invalid_config", "unknown_model",
               "model_unavailable", "idle_timeout"}


def examples(n: int) -> int:
    return max(10, int(n * SCALE))


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                        max_size=3),
                           max_leaves=8)
CONFIGS = st.fixed_dictionaries({"type": st.just("config")}, optional={
    "sample_rate": st.one_of(st.sampled_from([8000, 16000, 22050, 44100, 48000, 7999, 48001, 0, -1, 16000.0, 16000.5]),
                             st.integers(), st.floats(allow_nan=True), st.text(max_size=6), st.booleans(), st.none()),
    "format": st.one_of(st.sampled_from(["s16le", "f32le", "S16LE", "u8", ""]), JSON_VALUES),
    "model": st.one_of(st.sampled_from(["default", "", "experimental", "../models/model.json", "/etc/passwd",
                                        "nope"]), JSON_VALUES),
    "extra": JSON_VALUES,
})


def _f32(values: list[float]) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


TEXT_FRAMES = st.one_of(
    CONFIGS.map(json.dumps),
    st.just(json.dumps({"type": "eof"})),
    st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3).map(json.dumps),
    JSON_VALUES.map(json.dumps),
    st.text(max_size=40),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.sampled_from(['{"type": 1}', '{"type": null}', '{"type": "EOF"}', '{"type": "config"', "NaN", "{}", ""]),
)
BINARY_FRAMES = st.one_of(
    st.binary(max_size=3201),
    st.lists(st.sampled_from([0.0, 0.5, -1.0, 1e30, -1e30, float("nan"), float("inf"), float("-inf")]),
             max_size=400).map(_f32),
    st.integers(0, 16000).map(lambda n: b"\x00\x7f" * n),  # loud square-ish noise, up to 1 s
)
FRAMES = st.lists(st.one_of(TEXT_FRAMES, BINARY_FRAMES), max_size=10)
ENDINGS = st.sampled_from(["vanish", "idle", "eof"])


class ScriptedSocket:
    """The part of simple-websocket's Server that serve_stream uses, fed from a list."""

    def __init__(self, frames: list, ending: str) -> None:
        self.frames = list(frames) + ([json.dumps({"type": "eof"})] if ending == "eof" else [])
        self.ending = ending
        self.sent: list[dict] = []
        self.close_code: int | None = None

    def receive(self, timeout: float | None = None):
        if self.frames:
            return self.frames.pop(0)
        if self.ending == "vanish":
            raise ConnectionClosed(1006, "gone")
        return None  # idle

    def send(self, data) -> None:
        if self.close_code is not None:
            raise ConnectionClosed(self.close_code, "closed")
        self.sent.append(json.loads(data))

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.close_code = reason


def check_replies(sent: list[dict]) -> None:
    assert all(isinstance(m, dict) and m.get("type") in TYPES for m in sent), sent
    assert not any(m["type"] == "error" and m["code"] not in ERROR_CODES for m in sent), sent
    ready = [i for i, m in enumerate(sent) if m["type"] == "ready"]
    assert len(ready) <= 1
    done = [i for i, m in enumerate(sent) if m["type"] == "done"]
    assert not done or done == [len(sent) - 1], "done is last"
    finals = [m["segment"] for m in sent if m["type"] == "final"]
    assert finals == list(range(len(finals))), "segments count up from 0"


def _record(name: str, failed: bool) -> None:
    entry = COUNTS.setdefault(name, [0, 0])
    entry[0] += 1
    entry[1] += int(failed)


@pytest.fixture(scope="module")
def transcriber(models_dir: Path):
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir}")
    from server.app import create_app
    from server.config import parse_config

    app = create_app(parse_config(["--models-dir", str(models_dir)]), access_log=False)
    return app.extensions["transcriber"]


@settings(max_examples=examples(3000), **FUZZ_SETTINGS)
@given(frames=FRAMES, ending=ENDINGS)
def test_protocol_in_process(transcriber, frames: list, ending: str) -> None:
    ws = ScriptedSocket(frames, ending)
    metrics = Metrics()
    slots = StreamSlots(0)
    failed = True
    try:
        serve_stream(ws, transcriber, metrics, slots, idle_timeout=0.001)
        check_replies(ws.sent)
        assert 'outcome="internal_error"' not in metrics.render(), ws.sent
        assert metrics.active_streams == 0 and slots._open == 0, "the stream's slot was not released"
        if ending == "eof" and ws.close_code == 1000:
            assert ws.sent[-1] == {"type": "done"}
        failed = False
    finally:
        _record("protocol in-process (serve_stream, real model)", failed)


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory):
    running = start_server(models_dir, tmp_path_factory.mktemp("fuzzws") / "server.log", "--idle-timeout-s", "2",
                           "--max-message-kb", "64")
    yield running
    stop_server(running)  # no traceback in the log, no 5xx


@settings(max_examples=examples(100), **FUZZ_SETTINGS)
@given(frames=FRAMES)
def test_protocol_over_loopback(server, frames: list) -> None:
    failed = True
    ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe", timeout=30)
    try:
        try:
            for frame in frames:
                if isinstance(frame, bytes):
                    ws.send_binary(frame)
                else:
                    ws.send(frame)
            ws.send(json.dumps({"type": "eof"}))
        except (websocket.WebSocketException, OSError):
            pass  # the server may already have closed (bad config): the replies say why
        messages, code = receive_all(ws)
        check_replies(messages)
        assert code in (1000, 1008), (code, messages[-2:])
        assert code != 1000 or messages[-1] == {"type": "done"}
        failed = False
    finally:
        try:
            ws.close()
        except (websocket.WebSocketException, OSError):
            pass  # the server hung up first
        _record("protocol over loopback (real server)", failed)


def test_server_still_streams_after_the_fuzz(server) -> None:
    assert 'outcome="internal_error"' not in server.metrics()
    ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe", timeout=30)
    ws.send(json.dumps({"type": "config", "sample_rate": 16000}))
    ws.send_binary(b"\x00\x00" * 16000)
    ws.send(json.dumps({"type": "eof"}))
    messages, code = receive_all(ws)
    assert code == 1000 and messages[0]["type"] == "ready" and messages[-1] == {"type": "done"}


def teardown_module() -> None:
    for name, (cases, failures) in COUNTS.items():
        print(f"\nfuzz: {name}: {cases} cases, {failures} failures")
