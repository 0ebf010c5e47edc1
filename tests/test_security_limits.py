"""Each limit against the real servers: slow and stalled bodies, trickled headers, idle sockets, sizes.

The dev server and gunicorn both run with short timeouts (read 2 s, upload
4 s) so the slow-client cases finish quickly. Stream limits that already
have tests (``--max-streams`` busy, ``--idle-timeout-s``, ``--max-message-kb``)
live in ``test_server_stream.py``.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from test_security_support import closed_within, raw_connection, start_gunicorn, stop
from test_server_support import RunningServer, start_server

READ_TIMEOUT_S, UPLOAD_TIMEOUT_S = 2, 4
LIMIT_ARGS = ("--read-timeout-s", str(READ_TIMEOUT_S), "--upload-timeout-s", str(UPLOAD_TIMEOUT_S),
              "--max-upload-mb", "2", "--max-audio-minutes", "1")
LIMIT_ENV = {"TRANSCRIBER_READ_TIMEOUT_S": str(READ_TIMEOUT_S), "TRANSCRIBER_UPLOAD_TIMEOUT_S": str(UPLOAD_TIMEOUT_S),
             "TRANSCRIBER_MAX_UPLOAD_MB": "2", "TRANSCRIBER_MAX_AUDIO_MINUTES": "1", "GUNICORN_THREADS": "4"}
HEAD = ("POST /api/transcribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: multipart/form-data; boundary=BOUNDARY\r\nContent-Length: {length}\r\n\r\n")


@pytest.fixture(scope="module", params=["dev", "gunicorn"])
def server(request, models_dir: Path, tmp_path_factory):
    log = tmp_path_factory.mktemp(request.param) / "server.log"
    if request.param == "dev":
        running = start_server(models_dir, log, *LIMIT_ARGS)
    else:
        running = start_gunicorn(models_dir, log, **LIMIT_ENV)
    yield running
    assert stop(running) == 0
    assert "Traceback" not in running.log(), running.log()


def response_status(sock: socket.socket, timeout: float) -> int | None:
    """The status code of whatever the server answers, or None if it just closes."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    return int(data.split()[1]) if data.startswith(b"HTTP/") else None


def still_serving(server: RunningServer) -> None:
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200


def test_trickled_body_gets_408(server: RunningServer) -> None:
    """A byte every half second never trips the stall timeout, but the upload deadline ends it."""
    sock = raw_connection(server)
    sock.sendall(HEAD.format(length=100_000).encode() + b"--BOUNDARY\r\n")
    started = time.monotonic()
    stop_sending = threading.Event()

    def trickle() -> None:
        while not stop_sending.wait(0.5):
            try:
                sock.send(b"x")
            except OSError:
                return
    sender = threading.Thread(target=trickle, daemon=True)
    sender.start()
    try:
        status = response_status(sock, UPLOAD_TIMEOUT_S + READ_TIMEOUT_S + 10)
        elapsed = time.monotonic() - started
    finally:
        stop_sending.set()
        sock.close()
    assert status == 408, status
    assert UPLOAD_TIMEOUT_S - 0.5 <= elapsed <= UPLOAD_TIMEOUT_S + READ_TIMEOUT_S + 3
    still_serving(server)


def test_stalled_body_is_dropped(server: RunningServer) -> None:
    sock = raw_connection(server)
    sock.sendall(HEAD.format(length=100_000).encode() + b"--BOUNDARY\r\n")
    started = time.monotonic()
    status = response_status(sock, READ_TIMEOUT_S + 10)
    sock.close()
    assert status in (408, None) and time.monotonic() - started <= READ_TIMEOUT_S + 3
    still_serving(server)


def test_idle_and_trickling_connections_do_not_starve_others(server: RunningServer) -> None:
    """More silent and header-trickling sockets than gunicorn has threads: others are served soon after."""
    idle = [raw_connection(server) for _ in range(8)]
    trickling = [raw_connection(server) for _ in range(4)]
    for sock in trickling:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        time.sleep(0.5)
        started = time.monotonic()
        still_serving(server)
        # gunicorn (4 threads here): silent sockets are parked after 1 s, trickling ones cut at the read timeout.
        assert time.monotonic() - started < READ_TIMEOUT_S + 3
        for sock in trickling:
            assert closed_within(sock, READ_TIMEOUT_S + 3)
    finally:
        for sock in idle + trickling:
            sock.close()


def test_idle_and_slow_header_sockets_are_dropped(server: RunningServer) -> None:
    if "gunicorn" in " ".join(server.process.args):
        # gthread parks a silent socket in its poller (no thread held) and closes it after
        # its own data timeout plus keepalive (5 + 5 s); only the header deadline is ours.
        pass
    else:
        idle = raw_connection(server)
        assert closed_within(idle, READ_TIMEOUT_S + 3)
    slow = raw_connection(server)
    started = time.monotonic()
    for _ in range(int(READ_TIMEOUT_S / 0.5) + 6):
        try:
            slow.sendall(b"X-A: b\r\n" if _ else b"GET /healthz HTTP/1.1\r\n")
        except OSError:
            break
        time.sleep(0.5)
    assert closed_within(slow, 3) and time.monotonic() - started <= READ_TIMEOUT_S + 4


def test_upload_over_the_size_limit_is_413(server: RunningServer) -> None:
    big = requests.post(server.url + "/api/transcribe", files={"file": ("a.wav", b"\0" * (3 * 1024 * 1024))},
                        timeout=30)
    assert big.status_code == 413 and big.json()["error"]["code"] == "file_too_large"


def flac_of_silence(minutes: float, rate: int = 8000, hide_length: bool = False) -> bytes:
    """Minutes of FLAC silence in a few KB; ``hide_length`` zeroes STREAMINFO's total-samples (= unknown)."""
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", samplerate=rate, channels=1, format="FLAC") as f:
        second = np.zeros(rate, dtype=np.float32)
        for _ in range(int(minutes * 60)):
            f.write(second)
    data = bytearray(buffer.getvalue())
    if hide_length:
        offset = 8 + 10  # "fLaC", block header, then min/max block and frame sizes
        packed = int.from_bytes(data[offset:offset + 8], "big") & ~((1 << 36) - 1)
        data[offset:offset + 8] = packed.to_bytes(8, "big")
    return bytes(data)


@pytest.mark.parametrize("hide_length", [False, True], ids=["honest-header", "length-hidden"])
def test_audio_length_limit_from_decoded_length(server: RunningServer, hide_length: bool) -> None:
    """Ten minutes of audio in a few KB: refused against the 1-minute limit whatever the header claims."""
    bomb = flac_of_silence(10, hide_length=hide_length)
    assert len(bomb) < 200_000
    response = requests.post(server.url + "/api/transcribe", files={"file": ("a.flac", bomb)}, timeout=60)
    assert response.status_code == 413 and response.json()["error"]["code"] == "audio_too_long"
    short = requests.post(server.url + "/api/transcribe", files={"file": ("a.flac", flac_of_silence(0.5))},
                          timeout=60)
    assert short.status_code == 200
