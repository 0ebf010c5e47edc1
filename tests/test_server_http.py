"""The HTTP API against the real server: uploads equal the CLI, OpenAI formats, errors, models, metrics."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile as sf

from test_server_support import (RunningServer, cli_transcripts, speech_files, start_server, stop_server,
                                 upload)

MAX_UPLOAD_MB = 2


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory) -> RunningServer:
    running = start_server(models_dir, tmp_path_factory.mktemp("log") / "server.log",
                           "--max-upload-mb", str(MAX_UPLOAD_MB))
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def audio_variants(dev_speech: Path, tmp_path_factory) -> dict[str, Path]:
    """The dev recordings, plus one re-encoded as FLAC, stereo 44.1 kHz WAV, OGG and (with ffmpeg) MP3."""
    files = speech_files(dev_speech)
    out = tmp_path_factory.mktemp("audio")
    samples, rate = sf.read(str(files[0]), dtype="float32")
    variants = {f"dev{i}": path for i, path in enumerate(files)}
    variants["flac"] = out / "speech.flac"
    sf.write(str(variants["flac"]), samples, rate, subtype="PCM_16")
    stereo = np.stack([samples, samples * 0.5], axis=1)
    from dsp.resample import resample
    variants["stereo44k"] = out / "stereo44k.wav"
    sf.write(str(variants["stereo44k"]), np.stack([resample(c, rate, 44100) for c in stereo.T], axis=1), 44100)
    variants["ogg"] = out / "speech.ogg"
    sf.write(str(variants["ogg"]), samples, rate, format="OGG", subtype="VORBIS")
    if shutil.which("ffmpeg"):
        variants["mp3"] = out / "speech.mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(files[0]), str(variants["mp3"])],
                       check=True, timeout=60)
    return variants


@pytest.fixture(scope="module")
def cli(models_dir: Path, audio_variants: dict[str, Path]) -> dict[Path, str]:
    return cli_transcripts(models_dir, list(audio_variants.values()))


def error_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()["error"]
    assert set(body) == {"code", "message"} and body["message"]
    return body


def test_health_and_placeholder_page(server: RunningServer) -> None:
    health = requests.get(f"{server.url}/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    page = requests.get(f"{server.url}/", timeout=10)
    assert page.status_code == 200 and "text/html" in page.headers["Content-Type"]


def test_upload_equals_cli(server: RunningServer, audio_variants: dict[str, Path], cli: dict[Path, str]) -> None:
    """Every rate, channel count and container gives the command-line transcriber's text."""
    for name, path in audio_variants.items():
        response = upload(server, path)
        assert response.status_code == 200, (name, response.text)
        body = response.json()
        assert body["text"] == cli[path], name
        assert set(body) == {"text", "segments", "duration", "model", "processing_time"}
        assert " ".join(s["text"] for s in body["segments"]) == body["text"]
        assert body["model"] == "default" or body["model"]
        assert body["duration"] == pytest.approx(sf.info(str(path)).duration, abs=0.05), name


def test_lossless_containers_agree(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    wav, flac = upload(server, audio_variants["dev0"]).json(), upload(server, audio_variants["flac"]).json()
    assert wav["text"] == flac["text"] and wav["segments"] == flac["segments"]


def test_timestamps_add_word_times(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    body = upload(server, audio_variants["dev3"] if "dev3" in audio_variants else audio_variants["dev0"],
                  timestamps="true").json()
    for segment in body["segments"]:
        assert 0 <= segment["start"] <= segment["end"] <= body["duration"] + 0.1
        words = segment["words"]
        assert [w["word"] for w in words] == segment["text"].split()
        assert all(segment["start"] - 0.01 <= w["start"] <= w["end"] <= segment["end"] + 0.5 for w in words)
    plain = upload(server, audio_variants["dev0"]).json()
    assert all("words" not in s for s in plain["segments"])


def test_model_choice_by_name_only(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    listing = requests.get(f"{server.url}/api/models", timeout=10).json()
    names = [m["name"] for m in listing["models"] if m["available"]]
    assert listing["default"] in names
    for row in listing["models"]:
        assert {"name", "size_bytes", "default", "sample_rate"} <= set(row)
        assert row["size_bytes"] is None or row["size_bytes"] > 0
    other = next((n for n in names if n != listing["default"]), listing["default"])
    response = upload(server, audio_variants["dev1"], model=other)
    assert response.status_code == 200 and response.json()["model"] == other
    for bad in ["no-such-model", "../model.json", "/etc/passwd", "model_default.tflite"]:
        assert error_of(upload(server, audio_variants["dev1"], model=bad), 422)["code"] == "unknown_model"
    openai = requests.get(f"{server.url}/v1/models", timeout=10).json()
    assert {m["id"] for m in openai["data"]} == set(names)


def test_openai_formats(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    path = audio_variants["dev0"]
    reference = upload(server, path).json()

    def openai(**fields) -> requests.Response:
        with open(path, "rb") as f:
            return requests.post(f"{server.url}/v1/audio/transcriptions", files={"file": (path.name, f)},
                                 data={"model": "whisper-1", **fields}, timeout=60)

    assert openai().json() == {"text": reference["text"]}
    assert openai(response_format="text", language="en").text.strip() == reference["text"]
    verbose = openai(response_format="verbose_json", **{"timestamp_granularities[]": "word"}).json()
    assert verbose["text"] == reference["text"] and verbose["duration"] == reference["duration"]
    assert [(s["start"], s["end"], s["text"]) for s in verbose["segments"]] == \
        [(s["start"], s["end"], s["text"]) for s in reference["segments"]]
    assert [w["word"] for w in verbose["words"]] == reference["text"].split()
    srt = openai(response_format="srt").text
    assert re.match(r"1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\n", srt) or not reference["segments"]
    assert [line for line in srt.splitlines() if line and "-->" not in line and not line.isdigit()] == \
        [s["text"] for s in reference["segments"]]
    vtt = openai(response_format="vtt").text
    assert vtt.startswith("WEBVTT\n")
    assert all(re.match(r"\d\d:\d\d:\d\d\.\d{3} --> ", line) for line in vtt.splitlines() if "-->" in line)
    assert error_of(openai(response_format="docx"), 422)["code"] == "invalid_parameter"
    assert error_of(openai(language="fr"), 422)["code"] == "unsupported_language"


def _malformed_inputs() -> dict[str, bytes]:
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(1600, np.float32), 16000, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    buffer = io.BytesIO()
    sf.write(buffer, np.zeros(1600, np.float32), 16000, format="FLAC")
    flac = buffer.getvalue()
    rng = np.random.default_rng(0)
    return {
        "random bytes": rng.integers(0, 256, 20000, dtype=np.uint8).tobytes(),
        "wav header, garbage after": wav[:12] + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "wav with a corrupt fmt chunk": wav[:20] + b"\xff" * 16 + wav[36:],
        "flac magic, garbage after": b"fLaC" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes(),
        "flac cut inside its header": flac[:30],
        "text": b"hello, this is not audio\n" * 20,
        "json": json.dumps({"audio": "base64?"}).encode(),
    }


@pytest.mark.parametrize("name", list(_malformed_inputs()))
def test_malformed_audio_is_415(server: RunningServer, name: str) -> None:
    data = _malformed_inputs()[name]
    response = requests.post(f"{server.url}/api/transcribe", files={"file": ("x.wav", data)}, timeout=60)
    assert error_of(response, 415)["code"] in {"undecodable_audio", "unsupported_format"}


def test_client_errors(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    url = f"{server.url}/api/transcribe"
    assert error_of(requests.post(url, timeout=10), 400)["code"] == "missing_file"
    assert error_of(requests.post(url, files={"file": ("a.wav", b"")}, timeout=10), 400)["code"] == "empty_file"
    assert error_of(requests.post(url, files={"other": ("a.wav", b"x")}, timeout=10), 400)["code"] == "missing_file"
    assert error_of(requests.post(url, json={"file": "x"}, timeout=10), 400)["code"] == "missing_file"
    assert error_of(requests.post(url, data=b"\x00" * 1000, headers={"Content-Type": "multipart/form-data"},
                                  timeout=10), 400)
    assert error_of(upload(server, audio_variants["dev1"], timestamps="maybe"), 422)["code"] == "invalid_parameter"
    big = b"\x00" * (MAX_UPLOAD_MB * 1024 * 1024 + 1000)
    assert error_of(requests.post(url, files={"file": ("big.wav", big)}, timeout=30), 413)["code"] == "file_too_large"
    assert error_of(requests.get(f"{server.url}/no/such/route", timeout=10), 404)["code"] == "not_found"
    assert error_of(requests.get(url, timeout=10), 405)["code"] == "method_not_allowed"
    assert error_of(requests.get(f"{server.url}/ws/transcribe", timeout=10), 400)["code"] == "websocket_required"
    # ... and the server still serves.
    assert upload(server, audio_variants["dev1"]).status_code == 200


def test_metrics(server: RunningServer, audio_variants: dict[str, Path]) -> None:
    assert upload(server, audio_variants["dev1"]).status_code == 200
    requests.post(f"{server.url}/api/transcribe", files={"file": ("x", b"junk")}, timeout=10)
    response = requests.get(f"{server.url}/metrics", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    text = response.text
    assert re.search(r'transcriber_http_requests_total\{route="/api/transcribe",method="POST",status="200"\} [1-9]',
                     text)
    assert re.search(r'transcriber_http_requests_total\{route="/api/transcribe",method="POST",status="415"\} [1-9]',
                     text)
    assert re.search(r'transcriber_audio_seconds_total\{source="upload"\} [0-9.]*[1-9]', text)
    assert re.search(r'transcriber_real_time_factor_count\{source="upload"\} [1-9]', text)
    assert "transcriber_active_streams 0" in text
    assert "transcriber_model_loaded 1" in text
    # Every sample line is NAME{labels} VALUE with a numeric value.
    for line in text.splitlines():
        if line and not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])
