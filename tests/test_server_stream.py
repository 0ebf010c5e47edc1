"""The WebSocket protocol against the real server: stream == upload == CLI, guarantees, bad clients, limits."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from dsp.resample import resample
from test_server_support import (RunningServer, check_protocol, cli_transcripts, connect, read_pcm, receive_all,
                                 speech_files, start_server, stop_server, stream_pcm, stream_text, upload)

MAX_STREAMS = 4
IDLE_TIMEOUT_S = 3
MAX_MESSAGE_KB = 256


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory) -> RunningServer:
    running = start_server(models_dir, tmp_path_factory.mktemp("log") / "server.log",
                           "--max-streams", str(MAX_STREAMS), "--idle-timeout-s", str(IDLE_TIMEOUT_S),
                           "--max-message-kb", str(MAX_MESSAGE_KB))
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def files(dev_speech: Path) -> list[Path]:
    return speech_files(dev_speech)


def wait_for_no_streams(server: RunningServer, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while server.metric("transcriber_active_streams") != 0:
        assert time.monotonic() < deadline, "a stream's resources were not freed"
        time.sleep(0.1)


def test_stream_equals_upload_and_cli(server: RunningServer, files: list[Path], models_dir: Path) -> None:
    """At the file's own rate (16 kHz and 22.05 kHz), in 100 ms chunks, the stream's finals are the upload's."""
    cli = cli_transcripts(models_dir, files)
    for path in files:
        pcm, rate = read_pcm(path)
        messages, code, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": rate, "format": "s16le"},
                                       chunk_bytes=rate // 10 * 2)
        assert code == 1000
        finals = check_protocol(messages)
        uploaded = upload(server, path).json()
        assert stream_text(finals) == uploaded["text"] == cli[path], path.name
        if rate == 16000:  # same samples in, same segmentation out
            assert [(f["start"], f["end"], f["text"]) for f in finals] == \
                [(s["start"], s["end"], s["text"]) for s in uploaded["segments"]]


def test_odd_chunks_and_f32le(server: RunningServer, files: list[Path]) -> None:
    """Frames that split samples in two, and float32 PCM, change nothing."""
    pcm, rate = read_pcm(files[0])
    reference, _, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": rate}, chunk_bytes=3200)
    odd, _, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": rate}, chunk_bytes=1001)
    floats = (pcm.astype(np.float32) / 32768.0).astype("<f4").tobytes()
    f32, _, _ = stream_pcm(server, floats, {"sample_rate": rate, "format": "f32le"}, chunk_bytes=4004)
    finals = [m for m in reference if m["type"] == "final"]
    assert finals == [m for m in odd if m["type"] == "final"] == [m for m in f32 if m["type"] == "final"]


@pytest.mark.parametrize("rate", [8000, 48000])
def test_other_rates_match_upload_at_that_rate(server: RunningServer, files: list[Path], tmp_path: Path,
                                               rate: int) -> None:
    """Streaming at 8 or 48 kHz (resampled as it arrives) gives the upload's text for the same audio."""
    samples, source_rate = sf.read(str(files[0]), dtype="float32")
    pcm = np.clip(np.round(resample(samples, source_rate, rate) * 32767), -32768, 32767).astype("<i2")
    path = tmp_path / f"speech{rate}.wav"
    sf.write(str(path), pcm, rate, subtype="PCM_16")
    messages, code, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": rate}, chunk_bytes=rate // 10 * 2)
    assert code == 1000 and messages[0]["sample_rate"] == rate
    assert stream_text(check_protocol(messages)) == upload(server, path).json()["text"]


def test_concurrent_streams_keep_the_guarantees(server: RunningServer, files: list[Path]) -> None:
    """Several clients at once, one paced in real time: each gets its own correct, ordered transcript."""
    results: dict[int, tuple] = {}
    jobs = []
    for i in range(MAX_STREAMS - 1):
        pcm, rate = read_pcm(files[i % len(files)])
        pace = rate * 2 if i == 0 else None  # the first one talks like a microphone
        jobs.append((i, files[i % len(files)], pcm.tobytes(), rate, pace))

    def run(i: int, path: Path, payload: bytes, rate: int, pace) -> None:
        results[i] = stream_pcm(server, payload, {"sample_rate": rate}, chunk_bytes=rate // 10 * 2,
                                pace_bytes_per_s=pace)

    threads = [threading.Thread(target=run, args=job) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    for i, path, _, _, pace in jobs:
        messages, code, before_eof = results[i]
        assert code == 1000
        finals = check_protocol(messages)
        assert stream_text(finals) == upload(server, path).json()["text"]
        if pace and finals:
            # Partials arrive while the person is still talking, not only at eof.
            assert before_eof > 0 and messages[1]["type"] == "partial"
    wait_for_no_streams(server)


def test_silence_and_noise_produce_no_text(server: RunningServer) -> None:
    rng = np.random.default_rng(0)
    quiet = np.concatenate([np.zeros(16000 * 2), rng.standard_normal(16000 * 2) * 30]).astype("<i2")
    messages, code, _ = stream_pcm(server, quiet.tobytes(), {"sample_rate": 16000})
    assert code == 1000 and [m["type"] for m in messages] == ["ready", "done"]


def test_no_config_means_defaults(server: RunningServer, files: list[Path]) -> None:
    pcm, rate = read_pcm(files[1])
    assert rate == 16000
    messages, code, _ = stream_pcm(server, pcm.tobytes(), None)
    assert messages[0] == {"type": "ready", "model": "default", "sample_rate": 16000, "format": "s16le"} \
        or messages[0]["sample_rate"] == 16000
    assert stream_text(check_protocol(messages)) == upload(server, files[1]).json()["text"]
    ws = connect(server)
    ws.send(json.dumps({"type": "eof"}))
    messages, code = receive_all(ws)
    assert [m["type"] for m in messages] == ["ready", "done"] and code == 1000


def test_garbage_on_the_socket_is_reported_and_survived(server: RunningServer, files: list[Path]) -> None:
    pcm, rate = read_pcm(files[1])
    ws = connect(server)
    ws.send(json.dumps({"type": "config", "sample_rate": rate}))
    assert json.loads(ws.recv())["type"] == "ready"
    for garbage in ["{not json", "[1, 2]", '"eof"', '{"type": "dance"}', '{"type": 5}', "\u0000" * 10,
                    json.dumps({"type": "config", "sample_rate": 8000})]:
        ws.send(garbage)
        reply = json.loads(ws.recv())
        assert reply["type"] == "error" and reply["code"] in {"invalid_json", "invalid_message", "config_too_late"}
    payload = pcm.tobytes()
    for start in range(0, len(payload), 3200):
        ws.send_binary(payload[start:start + 3200])
    ws.send(json.dumps({"type": "eof"}))
    messages, code = receive_all(ws)
    assert code == 1000
    assert stream_text(check_protocol([{"type": "ready"}] + messages)) == upload(server, files[1]).json()["text"]


@pytest.mark.parametrize("config", [
    {"sample_rate": 4000}, {"sample_rate": 96000}, {"sample_rate": "16000"}, {"sample_rate": True},
    {"format": "mp3"}, {"model": "../model.json"}, {"model": "no-such-model"}, {"model": 7},
])
def test_bad_config_is_refused(server: RunningServer, config: dict) -> None:
    ws = connect(server)
    ws.send(json.dumps({"type": "config", **config}))
    messages, code = receive_all(ws)
    assert len(messages) == 1 and messages[0]["type"] == "error" and code == 1008
    assert messages[0]["code"] in {"invalid_config", "unknown_model"}


def test_client_vanishing_mid_stream_frees_its_stream(server: RunningServer, files: list[Path]) -> None:
    pcm, rate = read_pcm(files[0])
    for _ in range(3):
        ws = connect(server)
        ws.send(json.dumps({"type": "config", "sample_rate": rate}))
        ws.send_binary(pcm[: len(pcm) // 2].tobytes())
        ws.sock.shutdown(socket.SHUT_RDWR)  # no close frame: the network just goes away
        ws.sock.close()
    wait_for_no_streams(server)
    messages, code, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": rate})
    assert code == 1000 and messages[-1] == {"type": "done"}


def test_max_streams_busy_then_recovers(server: RunningServer, files: list[Path]) -> None:
    wait_for_no_streams(server)
    held = [connect(server) for _ in range(MAX_STREAMS)]
    for ws in held:
        ws.send(json.dumps({"type": "config"}))
        assert json.loads(ws.recv())["type"] == "ready"
    extra = connect(server)
    messages, code = receive_all(extra)
    assert messages == [{"type": "error", "code": "busy", "message": messages[0]["message"]}] and code == 1013
    # The existing streams carry on.
    pcm, _ = read_pcm(files[1])
    held[0].send_binary(pcm.tobytes())
    held[0].send(json.dumps({"type": "eof"}))
    messages, code = receive_all(held[0])
    assert code == 1000 and messages[-1] == {"type": "done"}
    for ws in held[1:]:
        ws.close()
    wait_for_no_streams(server)
    messages, code, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": 16000})
    assert code == 1000
    assert 'transcriber_streams_total{outcome="busy"}' in server.metrics()


def test_idle_socket_is_closed(server: RunningServer) -> None:
    ws = connect(server)
    ws.send(json.dumps({"type": "config"}))
    assert json.loads(ws.recv())["type"] == "ready"
    started = time.monotonic()
    messages, code = receive_all(ws)
    assert messages[0]["code"] == "idle_timeout" and code == 1001
    assert time.monotonic() - started < IDLE_TIMEOUT_S + 3


def test_oversized_message_closes_only_that_stream(server: RunningServer, files: list[Path]) -> None:
    ws = connect(server)
    ws.send(json.dumps({"type": "config"}))
    ws.recv()
    ws.send_binary(b"\x00" * (MAX_MESSAGE_KB * 1024 + 2))
    messages, code = receive_all(ws)
    assert code == 1009 and not messages
    pcm, _ = read_pcm(files[1])
    messages, code, _ = stream_pcm(server, pcm.tobytes(), {"sample_rate": 16000})
    assert code == 1000


def test_stream_metrics(server: RunningServer) -> None:
    started = time.monotonic()
    wait_for_no_streams(server)  # a stream's bookkeeping ends just after its close frame goes out
    print(f"streams drained after {time.monotonic() - started:.2f} s")
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    assert 'transcriber_streams_total{outcome="done"}' in text
    assert 'transcriber_audio_seconds_total{source="stream"} 0.000' not in text
