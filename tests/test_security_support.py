"""Helpers for the security, fuzz and load suites: gunicorn and dev-server processes, raw sockets, log checks.

Builds on ``test_server_support`` (real server subprocess on a loopback
port, real clients); adds gunicorn with chosen workers, a stream that can
stop half-way, and readers for the JSON access log.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket

from test_server_support import REPO, RunningServer, free_port, read_pcm, receive_all

SPEECH = "misc_fixtures/deepspeech_LDC93S1.wav"


def start_gunicorn(models_dir: Path, log_path: Path, workers: int = 1, **env_extra: str) -> RunningServer:
    """gunicorn with ``gunicorn.conf.py`` (gthread) on a loopback port, healthy before it returns."""
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir}")
    if shutil.which("gunicorn") is None:
        pytest.skip("gunicorn not installed")
    port = free_port()
    env = {**os.environ, "TRANSCRIBER_MODELS_DIR": str(models_dir), "TRANSCRIBER_HOST": "127.0.0.1",
           "TRANSCRIBER_PORT": str(port), "GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": "16",
           "PYTHONUNBUFFERED": "1", **env_extra}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server.wsgi:app"],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own group, so a failure can kill master + workers
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            kill_group(process)
            raise RuntimeError(f"gunicorn did not start:\n{log_path.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                break
        except requests.RequestException:  # not listening yet, or the worker is still loading
            time.sleep(0.2)
    return RunningServer(url, f"ws://127.0.0.1:{port}", process, log_path)


def stop(server: RunningServer, timeout: float = 30) -> int:
    """SIGTERM and wait; returns the exit status."""
    if server.process.poll() is None:
        server.process.terminate()
    try:
        return server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(server.process)
        raise


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL a server and, for gunicorn (started in its own session), its workers."""
    try:
        if os.getpgid(process.pid) == process.pid:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def access_lines(server: RunningServer) -> list[dict]:
    """The JSON access-log lines in the server's output."""
    out = []
    for line in server.log().splitlines():
        line = line.strip()
        if line.startswith("{") and '"method"' in line:
            out.append(json.loads(line))
    return out


def open_stream(server: RunningServer, rate: int, query: str = "", **options) -> websocket.WebSocket:
    """A WebSocket with ``config`` sent and ``ready`` read."""
    ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe{query}", timeout=60, **options)
    ws.send(json.dumps({"type": "config", "sample_rate": rate}))
    ready = json.loads(ws.recv())
    assert ready["type"] == "ready", ready
    return ws


def send_speech(ws: websocket.WebSocket, pcm, rate: int, fraction: float = 1.0) -> None:
    """Send the first ``fraction`` of the recording in 100 ms frames."""
    step = rate // 10
    end = int(len(pcm) * fraction)
    for start in range(0, end, step):
        ws.send_binary(pcm[start:min(start + step, end)].tobytes())


def raw_connection(server: RunningServer) -> socket.socket:
    host, port = server.url.rsplit("/", 1)[1].split(":")
    return socket.create_connection((host, int(port)), timeout=30)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True if the server closes (or resets) the connection within ``seconds``."""
    sock.settimeout(seconds)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


__all__ = ["SPEECH", "access_lines", "closed_within", "open_stream", "raw_connection", "read_pcm", "receive_all",
           "send_speech", "start_gunicorn", "stop"]
