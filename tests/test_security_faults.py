"""Faults: SIGTERM drains open streams (dev server and gunicorn), a vanished client frees its stream at once,
a killed gunicorn worker leaves the others serving, and a missing model stops gunicorn with one clear line.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
import websocket

from test_security_support import SPEECH, open_stream, read_pcm, receive_all, send_speech, start_gunicorn, stop
from test_server_support import REPO, RunningServer, check_protocol, free_port, start_server, stream_text, upload


def collect(ws: websocket.WebSocket, into: list) -> threading.Thread:
    """Read every message and the close code in the background (a live client reads while it sends)."""
    def run() -> None:
        try:
            into.append(receive_all(ws))
        except Exception as exc:  # noqa: BLE001 - reported through the list
            into.append(exc)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def drain_check(server: RunningServer, dev_speech: Path) -> None:
    """Three streams open at SIGTERM: all get their finals and done, close 1001; the process exits 0."""
    path = dev_speech / SPEECH
    pcm, rate = read_pcm(path)
    expected = upload(server, path).json()["text"]
    streams, results, readers = [], [], []
    for fraction in (1.0, 1.0, 0.6):  # two sent everything (no eof yet), one is mid-sentence
        ws = open_stream(server, rate)
        box: list = []
        readers.append(collect(ws, box))
        results.append(box)
        send_speech(ws, pcm, rate, fraction)
        streams.append(ws)
    time.sleep(1.0)  # let the server take in what was sent
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    for reader in readers:
        reader.join(30)
    code = server.process.wait(timeout=40)
    assert code == 0, server.log()
    assert time.monotonic() - started < 30
    for fraction, box in zip((1.0, 1.0, 0.6), results):
        assert box and not isinstance(box[0], Exception), box
        messages, close_code = box[0]
        finals = check_protocol([{"type": "ready"}] + messages)
        assert close_code == 1001
        if fraction == 1.0:
            assert stream_text(finals) == expected, "a final was lost in the drain"
        else:
            assert finals, "the sentence in progress was not finalised"
    for ws in streams:
        ws.close()
    assert "Traceback" not in server.log()


def test_sigterm_drains_dev_server(models_dir: Path, tmp_path: Path, dev_speech: Path) -> None:
    drain_check(start_server(models_dir, tmp_path / "server.log"), dev_speech)


def test_sigterm_drains_gunicorn(models_dir: Path, tmp_path: Path, dev_speech: Path) -> None:
    drain_check(start_gunicorn(models_dir, tmp_path / "gunicorn.log"), dev_speech)


def test_vanished_client_frees_its_stream_at_once(models_dir: Path, tmp_path: Path, dev_speech: Path) -> None:
    server = start_server(models_dir, tmp_path / "server.log", "--max-streams", "2", "--idle-timeout-s", "60")
    try:
        pcm, rate = read_pcm(dev_speech / SPEECH)
        for _ in range(2):
            ws = open_stream(server, rate)
            send_speech(ws, pcm, rate, 0.5)
            ws.sock.shutdown(socket.SHUT_RDWR)  # the network goes away: no close frame
            ws.sock.close()
        started = time.monotonic()
        while server.metric("transcriber_active_streams") != 0:
            assert time.monotonic() - started < 2, "the vanished streams still hold their slots"
            time.sleep(0.05)
        # Both slots are free again: two new full streams run (a third would be busy).
        for _ in range(2):
            ws = open_stream(server, rate)
            send_speech(ws, pcm, rate)
            ws.send(json.dumps({"type": "eof"}))
            messages, code = receive_all(ws)
            assert code == 1000 and messages[-1] == {"type": "done"}
        assert 'transcriber_streams_total{outcome="disconnected"} 2' in server.metrics()
    finally:
        assert stop(server) == 0
    assert "Traceback" not in server.log()


def worker_pids(master: int) -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.add(int(entry))
    return pids


def socket_owner(client_port: int, workers: set[int]) -> int | None:
    """Which worker holds the server side of the connection from ``client_port`` (via /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == client_port:  # remote end is our client
                inodes.add(fields[9])
    for pid in workers:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


def test_killed_worker_leaves_the_others_serving(models_dir: Path, tmp_path: Path, dev_speech: Path) -> None:
    server = start_gunicorn(models_dir, tmp_path / "gunicorn.log", workers=2)
    try:
        deadline = time.monotonic() + 60
        # Both workers have loaded the model (server.shutdown.install_gunicorn_drain says so).
        while len(workers := worker_pids(server.process.pid)) < 2 or server.log().count("Worker ready") < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        pcm, rate = read_pcm(dev_speech / SPEECH)
        expected = upload(server, dev_speech / SPEECH).json()["text"]
        streams: list[tuple[websocket.WebSocket, int | None]] = []
        # Open streams until both workers hold at least one (whichever worker accepts first wins).
        while len({owner for _, owner in streams} & workers) < 2 and len(streams) < 12:
            ws = open_stream(server, rate)
            send_speech(ws, pcm, rate, 0.5)
            streams.append((ws, socket_owner(ws.sock.getsockname()[1], workers)))
            time.sleep(0.1)
        owners = {owner for _, owner in streams}
        if len(owners & workers) < 2:
            pytest.skip("all streams landed on one worker")
        victim = streams[0][1]
        os.kill(victim, signal.SIGKILL)  # mid-stream, no chance to clean up
        for ws, owner in streams:
            if owner == victim:
                with pytest.raises((websocket.WebSocketException, OSError)):
                    send_speech(ws, pcm[len(pcm) // 2:], rate)
                    ws.send(json.dumps({"type": "eof"}))
                    receive_all(ws)
                continue
            send_speech(ws, pcm[len(pcm) // 2:], rate)
            ws.send(json.dumps({"type": "eof"}))
            messages, code = receive_all(ws)
            assert code == 1000 and stream_text(check_protocol([{"type": "ready"}] + messages)) == expected
        # New work is served at once, and gunicorn replaces the dead worker.
        for _ in range(4):
            assert upload(server, dev_speech / SPEECH).json()["text"] == expected
        deadline = time.monotonic() + 60
        while True:
            now = worker_pids(server.process.pid)
            if len(now) == 2 and victim not in now:
                break
            assert time.monotonic() < deadline, "gunicorn did not restart the killed worker"
            time.sleep(0.2)
        assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
        survivors = sum(owner != victim for _, owner in streams)
        print(f"killed worker held {len(streams) - survivors} stream(s); {survivors} on the other finished intact")
    finally:
        for ws, _ in locals().get("streams", []):
            try:
                ws.close()
            except (websocket.WebSocketException, OSError):
                pass
        assert stop(server) == 0


def test_gunicorn_missing_model_stops_with_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TRANSCRIBER_MODELS_DIR": str(tmp_path), "TRANSCRIBER_HOST": "127.0.0.1",
           "TRANSCRIBER_PORT": str(free_port())}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server.wsgi:app"], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.count("error: cannot load model") == 1, result.stderr
    assert "Traceback" not in result.stderr
