"""Both entrances: gunicorn (gthread, ``server.wsgi:app``) serves uploads and streams; bad models fail clearly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from test_server_support import (REPO, RunningServer, check_protocol, free_port, read_pcm, speech_files,
                                 stream_pcm, stream_text, upload)


@pytest.fixture(scope="module")
def gunicorn_server(models_dir: Path, tmp_path_factory) -> RunningServer:
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir}")
    if shutil.which("gunicorn") is None:
        pytest.skip("gunicorn not installed")
    port = free_port()
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {**os.environ, "TRANSCRIBER_MODELS_DIR": str(models_dir), "TRANSCRIBER_HOST": "127.0.0.1",
           "TRANSCRIBER_PORT": str(port), "GUNICORN_THREADS": "8", "TRANSCRIBER_MAX_UPLOAD_MB": "5"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "server.wsgi:app"],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
        try:
            if requests.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    yield RunningServer(url, f"ws://127.0.0.1:{port}", process, log_path)
    process.terminate()
    process.wait(timeout=30)
    assert "Traceback" not in log_path.read_text()


def test_gunicorn_upload_and_stream(gunicorn_server: RunningServer, dev_speech: Path) -> None:
    path = speech_files(dev_speech)[0]
    uploaded = upload(gunicorn_server, path)
    assert uploaded.status_code == 200
    pcm, rate = read_pcm(path)
    messages, code, _ = stream_pcm(gunicorn_server, pcm.tobytes(), {"sample_rate": rate})
    assert code == 1000 and stream_text(check_protocol(messages)) == uploaded.json()["text"]
    bad = requests.post(f"{gunicorn_server.url}/api/transcribe", files={"file": ("x.wav", b"RIFF1234junk")}, timeout=10)
    assert bad.status_code == 415 and bad.json()["error"]["code"] == "undecodable_audio"
    big = requests.post(f"{gunicorn_server.url}/api/transcribe", files={"file": ("x.wav", b"\0" * 6 * 1024 * 1024)},
                        timeout=30)
    assert big.status_code == 413


def test_missing_model_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "server", "--models-dir", str(tmp_path), "--port",
                             str(free_port())], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot load model")
    assert "Traceback" not in result.stderr


def test_corrupt_model_is_one_clear_line(models_dir: Path, tmp_path: Path) -> None:
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir}")
    card = json.loads((models_dir / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps(card))
    for file in set(card["variants"].values()):
        (tmp_path / file).write_bytes(b"not a tflite model")
    result = subprocess.run([sys.executable, "-m", "server", "--models-dir", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: cannot load model" in result.stderr
