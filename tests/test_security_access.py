"""Token and Origin checks on HTTP and the WebSocket, security headers, secret-free JSON access logs, https.

One real ``python -m server`` with ``--api-token`` (passed in the environment,
as the docs recommend) and one extra allowed origin; clients are
``requests`` and ``websocket-client`` over loopback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket

from test_security_support import SPEECH, access_lines, open_stream, read_pcm, receive_all, send_speech
from test_server_support import REPO, RunningServer, free_port, start_server, stop_server

TOKEN = "tok-3f9a1c2e-very-secret"
OTHER_ORIGIN = "https://notes.example"


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory):
    os.environ["TRANSCRIBER_API_TOKEN"] = TOKEN  # the subprocess inherits it; flags would show in ps
    try:
        running = start_server(models_dir, tmp_path_factory.mktemp("access") / "server.log",
                               "--allowed-origins", f"self,{OTHER_ORIGIN}")
    finally:
        del os.environ["TRANSCRIBER_API_TOKEN"]
    yield running
    stop_server_with_token(running)


def stop_server_with_token(server: RunningServer) -> None:
    # stop_server reads /metrics, which needs the token now.
    original = requests.get
    requests.get = lambda url, **kw: original(url, headers={"Authorization": f"Bearer {TOKEN}"}, **kw)
    try:
        stop_server(server)
    finally:
        requests.get = original


def auth(token: str = TOKEN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_http_needs_the_token(server: RunningServer, dev_speech: Path) -> None:
    for path in ("/api/models", "/v1/models", "/metrics"):
        missing = requests.get(server.url + path, timeout=10)
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
        assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        assert requests.get(server.url + path, headers=auth("wrong"), timeout=10).status_code == 401
        assert requests.get(server.url + path, headers=auth(TOKEN + "x"), timeout=10).status_code == 401
        assert requests.get(server.url + path, headers={"Authorization": TOKEN}, timeout=10).status_code == 401
        # The query parameter is for WebSockets only: it would leak into histories and Referers.
        assert requests.get(f"{server.url}{path}?token={TOKEN}", timeout=10).status_code == 401
        assert requests.get(server.url + path, headers=auth(), timeout=10).status_code == 200
    audio = (dev_speech / SPEECH).read_bytes()
    for path in ("/api/transcribe", "/v1/audio/transcriptions"):
        refused = requests.post(server.url + path, files={"file": ("a.wav", audio)}, timeout=60)
        assert refused.status_code == 401
        assert requests.post(server.url + path, files={"file": ("a.wav", audio)}, headers=auth(),
                             timeout=60).status_code == 200


def test_public_paths_stay_open(server: RunningServer) -> None:
    """The page must load so it can ask for the token; probes need no secret."""
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    assert requests.get(server.url + "/", timeout=10).status_code == 200


def test_websocket_needs_the_token(server: RunningServer, dev_speech: Path) -> None:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{server.ws_url}/ws/transcribe", timeout=10)
    assert refused.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as wrong:
        websocket.create_connection(f"{server.ws_url}/ws/transcribe?token=nope", timeout=10)
    assert wrong.value.status_code == 401
    pcm, rate = read_pcm(dev_speech / SPEECH)
    for options in ({"query": f"?token={TOKEN}"}, {"header": [f"Authorization: Bearer {TOKEN}"]}):
        ws = open_stream(server, rate, **options)
        send_speech(ws, pcm, rate)
        ws.send(json.dumps({"type": "eof"}))
        messages, code = receive_all(ws)
        assert code == 1000 and messages[-1] == {"type": "done"}


def test_foreign_origin_is_refused(server: RunningServer) -> None:
    """Cross-site WebSocket hijacking: a page elsewhere cannot open a stream or call the API."""
    host = server.url.split("//", 1)[1]
    for origin in ("http://evil.example", f"http://{host}.evil.example", "null", f"https://evil.example:{host}"):
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            websocket.create_connection(f"{server.ws_url}/ws/transcribe?token={TOKEN}", origin=origin, timeout=10)
        assert refused.value.status_code == 403
        response = requests.get(server.url + "/api/models", headers={**auth(), "Origin": origin}, timeout=10)
        assert response.status_code == 403 and response.json()["error"]["code"] == "origin_not_allowed"
    # Our own origin (what a browser on our page sends), a listed one, and none at all (curl, the Pi client).
    for extra in ({"origin": f"http://{host}"}, {"origin": OTHER_ORIGIN}, {"suppress_origin": True}):
        ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe?token={TOKEN}", timeout=10, **extra)
        ws.send(json.dumps({"type": "eof"}))
        messages, code = receive_all(ws)
        assert messages[-1] == {"type": "done"} and code == 1000
    assert requests.get(server.url + "/api/models", headers={**auth(), "Origin": f"http://{host}"},
                        timeout=10).status_code == 200


def test_security_headers_on_the_page(server: RunningServer) -> None:
    page = requests.get(server.url + "/", timeout=10)
    csp = page.headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp and "*" not in csp
    host = server.url.split("//", 1)[1]
    assert set(directives["connect-src"]) == {"'self'", f"ws://{host}", f"wss://{host}"}
    assert directives["frame-ancestors"] == ["'none'"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    api = requests.get(server.url + "/api/models", headers=auth(), timeout=10)
    assert api.headers["Cache-Control"] == "no-store" and "Content-Security-Policy" in api.headers


def test_access_log_is_json_and_holds_no_token(server: RunningServer) -> None:
    requests.get(f"{server.url}/healthz?token={TOKEN}&x=1", headers=auth(), timeout=10)
    requests.get(f"{server.url}/api/models?%74oken={TOKEN}", headers=auth(), timeout=10)
    ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe?token={TOKEN}", timeout=10)
    ws.send(json.dumps({"type": "eof"}))
    receive_all(ws)
    ws.close()
    deadline = time.monotonic() + 10  # the session's line is written once the socket is done
    while not any(line["path"] == "/ws/transcribe?token=***" and line["status"] == 101
                  for line in access_lines(server)):
        assert time.monotonic() < deadline, "no access-log line for the WebSocket session"
        time.sleep(0.1)
    log = server.log()
    assert TOKEN not in log, "a token reached the log"
    lines = access_lines(server)
    assert {"method", "path", "status", "duration_ms", "bytes"} <= set(lines[0])
    assert any(line["path"] == "/healthz?token=***&x=1" and line["status"] == 200 for line in lines)
    # (requests may normalise %74 to t; either way the value is masked)
    assert any(line["path"] in ("/api/models?%74oken=***", "/api/models?token=***") for line in lines)
    sessions = [line for line in lines if line["path"] == "/ws/transcribe?token=***" and line["status"] == 101]
    assert sessions and all(line["bytes"] > 0 for line in sessions)
    assert any(line["status"] == 401 for line in lines)


def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                           "/CN=localhost", "-keyout", str(key), "-out", str(cert)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("openssl cannot make a test certificate")
    return cert, key


def check_https(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline
        try:
            response = requests.get(f"https://127.0.0.1:{port}/healthz", verify=False, timeout=5)
            break
        except requests.RequestException:
            time.sleep(0.2)
    assert response.status_code == 200
    ws = websocket.create_connection(f"wss://127.0.0.1:{port}/ws/transcribe", sslopt={"cert_reqs": 0}, timeout=10)
    ws.send(json.dumps({"type": "eof"}))
    messages, code = receive_all(ws)
    assert messages[-1] == {"type": "done"} and code == 1000


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
@pytest.mark.parametrize("entrance", ["dev", "gunicorn"])
def test_https_with_certfile(models_dir: Path, tmp_path: Path, entrance: str) -> None:
    if not (models_dir / "model.json").is_file():
        pytest.skip("no model")
    cert, key = make_cert(tmp_path)
    port = free_port()
    if entrance == "dev":
        command = [sys.executable, "-m", "server", "--port", str(port), "--models-dir", str(models_dir),
                   "--certfile", str(cert), "--keyfile", str(key)]
        env = dict(os.environ)
    else:
        command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server.wsgi:app"]
        env = {**os.environ, "TRANSCRIBER_CERTFILE": str(cert), "TRANSCRIBER_KEYFILE": str(key),
               "TRANSCRIBER_MODELS_DIR": str(models_dir), "TRANSCRIBER_HOST": "127.0.0.1",
               "TRANSCRIBER_PORT": str(port)}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        check_https(port, process)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=40)
    assert process.returncode == 0, out.decode()
    assert b"Traceback" not in out


@pytest.mark.parametrize("origin, host, allowed, expected", [
    ("http://box.lan:8000", "box.lan:8000", ("self",), True),
    ("https://box.lan", "box.lan", ("self",), True),                  # TLS proxy on 443, Host without port
    ("https://box.lan:8443", "box.lan", ("self",), False),            # proxy dropped the port: refused
    ("http://BOX.lan:8000/", "box.lan:8000", ("self",), True),
    ("http://[::1]:8000", "[::1]:8000", ("self",), True),
    ("http://box.lan:8001", "box.lan:8000", ("self",), False),
    ("http://box.lan.evil.example:8000", "box.lan:8000", ("self",), False),
    ("null", "box.lan:8000", ("self",), False),
    ("file://", "box.lan:8000", ("self",), False),
    ("https://box.lan", "evil.example", ("https://box.lan",), True),  # exact origin, whatever the Host
    ("http://box.lan:8000", "box.lan:8000", ("https://box.lan",), False),  # 'self' not listed: DNS rebinding
    ("https://anything.example", "box.lan", ("*",), True),
])
def test_origin_rules(origin: str, host: str, allowed: tuple, expected: bool) -> None:
    from server.security import origin_allowed

    assert origin_allowed(origin, host, allowed) is expected


def test_secrets_are_masked_in_queries_and_text() -> None:
    from server.access_log import mask_query, mask_text

    assert mask_query("token=abc&x=1") == "token=***&x=1"
    assert mask_query("%74oken=abc&API_KEY=k&keep=1") == "%74oken=***&API_KEY=***&keep=1"
    assert mask_query("a=1&token") == "a=1&token=***"
    assert "abc" not in mask_text('"GET /ws/transcribe?token=abc HTTP/1.1" 101')
    assert "abc" not in mask_text("Authorization: Bearer abc")


def test_vad_mode_comes_from_flag_or_environment_and_is_checked() -> None:
    from server.config import parse_config

    assert parse_config([], env={}).vad_mode == 1
    assert parse_config([], env={"TRANSCRIBER_VAD_MODE": "3"}).vad_mode == 3
    assert parse_config(["--vad-mode", "0"], env={"TRANSCRIBER_VAD_MODE": "3"}).vad_mode == 0
    for bad in ("4", "-1", "loud"):
        with pytest.raises(SystemExit):
            parse_config([], env={"TRANSCRIBER_VAD_MODE": bad})


def test_config_repr_hides_the_token() -> None:
    from server.config import parse_config

    config = parse_config(["--api-token", "hunter2"], env={})
    assert config.api_token == "hunter2" and "hunter2" not in repr(config)
