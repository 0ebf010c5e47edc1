"""The Pi client end to end, through the real sounddevice/PortAudio/ALSA capture path.

A speech recording is played into an ALSA ``file`` PCM (see
``test_client_support``) that the client opens as ``--device usbmic``.
Transcripts are compared across paths, never with fixed strings, so the
tests hold for any model: mic ``--local`` == ``python -m models.transcribe``
on the same audio, and mic ``--server`` == that too, even across a server
crash in mid-sentence.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from test_client_support import (SPEECH_CLIPS, FifoMic, build_recording, free_port, reference_finals, reference_segments,
                                 start_client, start_server, stop_client, wait_for)

try:
    import sounddevice  # noqa: F401  (needs libportaudio2)
except (ImportError, OSError) as exc:  # pragma: no cover - depends on the machine
    pytest.skip(f"PortAudio not available: {exc}", allow_module_level=True)

HAVE_SERVER = importlib.util.find_spec("server") is not None and \
    importlib.util.find_spec("server.__main__") is not None
needs_server = pytest.mark.skipif(not HAVE_SERVER, reason="server/ (python -m server) is not in this checkout yet")
SPEED = 4.0  # the FIFO microphone plays at 4x real time: the client must keep up, and the suite stays short


@pytest.fixture(scope="module")
def recording(dev_speech: Path, tmp_path_factory) -> tuple[np.ndarray, Path]:
    return build_recording(dev_speech, tmp_path_factory.mktemp("rec"))


@pytest.fixture(scope="module")
def reference(recording, models_dir: Path) -> list[str]:
    finals = reference_finals(recording[1], models_dir)
    assert len(finals) >= 2, "the test recording should give several segments"
    return finals


@pytest.fixture
def mic(tmp_path: Path):
    m = FifoMic(tmp_path / "alsa", speed=SPEED)
    yield m
    m.close()


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory):
    if not HAVE_SERVER:
        pytest.skip("server/ (python -m server) is not in this checkout yet")
    port = free_port()
    proc = start_server(models_dir, port, tmp_path_factory.mktemp("srv") / "server.log")
    yield f"ws://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def _run_to_end(mic: FifoMic, pcm: np.ndarray, args: list[str], out: Path, settle: float = 1.0):
    proc = start_client(mic, args, out)
    mic.feed(pcm)
    assert mic.speech_done.wait(120), "the FIFO microphone stalled"
    time.sleep(settle)
    return stop_client(proc, out)


def _texts(lines: list[dict]) -> list[str]:
    return [line["text"] for line in lines]


class _Hook(BaseHTTPRequestHandler):
    bodies: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.bodies.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_local_mode_matches_cli_and_fills_every_output(mic, recording, reference, models_dir, tmp_path):
    hook = HTTPServer(("127.0.0.1", 0), _Hook)
    _Hook.bodies = []
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    jsonl = tmp_path / "out" / "transcripts.jsonl"
    mic.plug_in()
    try:
        code, lines, log = _run_to_end(mic, recording[0], ["--local", "--models-dir", str(models_dir), "--output",
                                                           str(jsonl), "--webhook",
                                                           f"http://127.0.0.1:{hook.server_port}/hook"], tmp_path)
    finally:
        hook.shutdown()
    assert code == 0, log
    assert _texts(lines) == reference, log
    assert [line["segment"] for line in lines] == list(range(len(lines)))
    assert all(a["end"] <= b["start"] for a, b in zip(lines, lines[1:]))
    assert all(line["time"].endswith("Z") for line in lines)
    assert [json.loads(x) for x in jsonl.read_text().splitlines()] == lines
    assert _Hook.bodies == lines
    assert "capturing from 'usbmic' at 16000 Hz" in log


@needs_server
def test_server_mode_matches_local(mic, recording, reference, server, tmp_path):
    mic.plug_in()
    code, lines, log = _run_to_end(mic, recording[0], ["--server", server], tmp_path)
    assert code == 0, log
    assert _texts(lines) == reference, log


@needs_server
def test_server_restart_mid_sentence_loses_nothing(recording, models_dir, tmp_path):
    """Kill the server inside the second utterance, bring it back: nothing lost, nothing doubled.

    The client replays everything after the last final (segment 0's end) to the new
    server, whose fresh session transcribes it as it would a stream starting there.
    That is the exact expectation: the uninterrupted run's words can differ a little,
    because its VAD had adapted to the audio before the replay point.
    """
    segments = reference_segments(recording[1], models_dir)
    acked = int(round(segments[0][1] * 16000))
    replayed = tmp_path / "replayed.wav"
    sf.write(replayed, recording[0][acked:], 16000, subtype="PCM_16")
    expected = [segments[0][2]] + reference_finals(replayed, models_dir)
    port = free_port()
    server_log = tmp_path / "server.log"
    proc = start_server(models_dir, port, server_log)
    mic = FifoMic(tmp_path / "alsa", speed=2.0)
    mic.plug_in()
    client = start_client(mic, ["--server", f"ws://127.0.0.1:{port}"], tmp_path)
    try:
        mic.feed(recording[0])
        second_utterance = 16000 * 6.0  # inside clip 2 (clips of 2.9 s + 1.5 s gap, then 4 s)
        wait_for(lambda: mic.written >= second_utterance, 60, "audio into the second utterance")
        proc.kill()
        proc.wait()
        outage_until = mic.written + 16000 * 1.5
        wait_for(lambda: mic.written >= outage_until, 60, "audio during the outage")
        proc = start_server(models_dir, port, server_log)
        assert mic.speech_done.wait(120)
        time.sleep(1.0)
        code, lines, log = stop_client(client, tmp_path)
    finally:
        mic.close()
        proc.terminate()
        proc.wait(10)
    assert code == 0, log
    assert "connection to" in log and "lost" in log, log
    assert _texts(lines) == expected, log
    assert [line["segment"] for line in lines] == list(range(len(lines)))


@pytest.mark.parametrize("mode", ["local", pytest.param("server", marks=needs_server)])
def test_sigterm_flushes_the_open_segment(mode, mic, recording, reference, models_dir, dev_speech, request, tmp_path):
    """SIGTERM while someone is still talking: exit 0, and what they said so far still gets its final."""
    rate = 16000
    first_len = sf.info(dev_speech / SPEECH_CLIPS[0]).frames  # clip 1 is 16 kHz, the recording starts with it
    head = recording[0][: first_len + int(1.5 * rate)]  # clip 1 + its gap
    head = head[: len(head) - len(head) % 383]
    talking = recording[0][len(head): len(head) + 3 * rate]  # speech that never pauses long enough for the VAD
    args = ["--local", "--models-dir", str(models_dir)] if mode == "local" else \
        ["--server", request.getfixturevalue("server")]
    mic.plug_in()
    proc = start_client(mic, args, tmp_path)
    mic.feed(head, then=np.concatenate([talking, talking[:383 * 5]]))
    wait_for(lambda: mic.written >= len(head) + rate * 1.5, 60, "talking after the first utterance")
    code, lines, log = stop_client(proc, tmp_path)
    assert code == 0, log
    assert len(lines) == 2, log
    assert lines[0]["text"] == reference[0]
    assert lines[1]["text"] and lines[1]["end"] > lines[1]["start"] > lines[0]["end"]
    assert "SIGTERM" in log and "flushed" in log, log


def test_microphone_missing_at_start_is_retried(mic, recording, reference, models_dir, tmp_path):
    proc = start_client(mic, ["--local", "--models-dir", str(models_dir)], tmp_path)
    err = tmp_path / "client.err"
    wait_for(lambda: err.exists() and "unavailable" in err.read_text(), 60, "the 'unavailable' log line")
    mic.plug_in()  # "plug the USB microphone in"
    mic.feed(recording[0])
    assert mic.speech_done.wait(120)
    time.sleep(1.0)
    code, lines, log = stop_client(proc, tmp_path)
    assert code == 0, log
    assert "microphone 'usbmic' unavailable" in log and "is back" in log, log
    assert _texts(lines) == reference, log


def test_48khz_device_is_resampled_like_a_48khz_file(dev_speech, models_dir, tmp_path):
    """Capture at 48 kHz goes through the streaming resampler: same words as the CLI on the 48 kHz WAV."""
    pcm, wav = build_recording(dev_speech, tmp_path, rate=48000)
    mic = FifoMic(tmp_path / "alsa", rate=48000, speed=SPEED)
    mic.plug_in()
    try:
        code, lines, log = _run_to_end(mic, pcm, ["--local", "--models-dir", str(models_dir), "--rate", "48000"],
                                       tmp_path)
    finally:
        mic.close()
    assert code == 0, log
    assert "at 48000 Hz" in log and "resampled to 16000 Hz" in log, log
    assert _texts(lines) == reference_finals(wav, models_dir), log


def test_list_devices_shows_the_alsa_device(mic):
    mic.plug_in()
    out = subprocess.run([sys.executable, "-m", "client.mic", "--list-devices"], env=mic.env(), capture_output=True,
                         text=True, timeout=60, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    assert "usbmic" in out.stdout
