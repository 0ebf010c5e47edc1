"""Load: many uploads and streams at once against the real server on 127.0.0.1, zero lost finals.

Both entrances (the dev server and gunicorn gthread) take ``LOAD_UPLOADS``
uploads and ``LOAD_STREAMS`` WebSocket streams of real speech, all in flight
together, within ``LOAD_DEADLINE_S``. Every upload must return the reference
transcript and every stream must end with ``done`` after finals whose text is
that same transcript: a lost, duplicated or reordered final fails the test.
Counts print at the end (``-s``); the environment variables scale the run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import websocket

from test_security_support import start_gunicorn, stop
from test_server_support import (RunningServer, check_protocol, read_pcm, receive_all, speech_files, start_server,
                                 stream_text, upload)

UPLOADS = int(os.environ.get("LOAD_UPLOADS", "64"))
STREAMS = int(os.environ.get("LOAD_STREAMS", "32"))
DEADLINE_S = float(os.environ.get("LOAD_DEADLINE_S", "150"))


@pytest.fixture(scope="module", params=["dev", "gunicorn"])
def server(request, models_dir: Path, tmp_path_factory):
    log = tmp_path_factory.mktemp(f"load-{request.param}") / "server.log"
    if request.param == "dev":
        running = start_server(models_dir, log, "--max-streams", str(STREAMS + 4))
    else:
        running = start_gunicorn(models_dir, log, TRANSCRIBER_MAX_STREAMS=str(STREAMS + 4),
                                 GUNICORN_THREADS=str(STREAMS + 16))
    yield running
    assert stop(running) == 0
    assert "Traceback" not in running.log()


def one_stream(server: RunningServer, path: Path) -> str:
    pcm, rate = read_pcm(path)
    ws = websocket.create_connection(f"{server.ws_url}/ws/transcribe", timeout=120)
    box: list = []
    reader = threading.Thread(target=lambda: box.append(receive_all(ws)), daemon=True)
    try:
        ws.send(json.dumps({"type": "config", "sample_rate": rate}))
        reader.start()  # a live client reads while it sends
        step = rate // 10
        for start in range(0, len(pcm), step):
            ws.send_binary(pcm[start:start + step].tobytes())
        ws.send(json.dumps({"type": "eof"}))
        reader.join(120)
    finally:
        ws.close()
    messages, code = box[0]
    assert code == 1000, code
    return stream_text(check_protocol(messages))


def test_many_uploads_and_streams_at_once(server: RunningServer, dev_speech: Path) -> None:
    files = speech_files(dev_speech)
    reference = {path: upload(server, path).json()["text"] for path in files}
    jobs = [("upload", files[i % len(files)]) for i in range(UPLOADS)] + \
           [("stream", files[i % len(files)]) for i in range(STREAMS)]
    jobs.sort(key=lambda job: hash((job[0], str(job[1]))) % 7)  # interleave kinds

    def run(job: tuple[str, Path]) -> tuple[str, Path, str]:
        kind, path = job
        if kind == "upload":
            response = upload(server, path)
            assert response.status_code == 200, response.text
            return kind, path, response.json()["text"]
        return kind, path, one_stream(server, path)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=UPLOADS + STREAMS) as pool:
        results = list(pool.map(run, jobs))
    elapsed = time.monotonic() - started
    lost = [(kind, path.name) for kind, path, text in results if text != reference[path]]
    print(f"\nload ({' '.join(server.process.args[1:4])}): {UPLOADS} uploads + {STREAMS} streams at once, "
          f"{len(results)} served in {elapsed:.1f} s, {len(lost)} with lost or wrong finals")
    assert not lost, lost
    assert elapsed < DEADLINE_S
    assert 'status="5' not in server.metrics()
