"""Fuzzing the upload path with hypothesis: mutated and random files never give a 5xx or a crash.

Three layers, fastest first, most cases where they are cheap:

1. ``dsp.decode.decode_bytes`` in-process (ffmpeg off, so soundfile's parsers
   take every case): returns finite mono float32 within the length limit, or
   raises ``AudioDecodeError``; nothing else.
2. The same in-process with ffmpeg on (each case spawns ffmpeg: fewer cases).
3. ``POST /api/transcribe`` and ``/v1/audio/transcriptions`` through Flask's
   test client (full app, real model), then a smaller number against the
   real server over loopback: always a 2xx or a JSON 4xx.

Seeds are real encodings (WAV in six sample formats, FLAC, Ogg Vorbis, AIFF,
AU, W64) of short noise; hypothesis mutates them (byte flips, header field
overwrites, truncation, splices) or sends plain random bytes. Case counts
print at the end (run with ``-s``); ``FUZZ_SCALE`` multiplies them.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import requests
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsp.decode import AudioDecodeError, decode_bytes
from test_server_support import start_server, stop_server

# soundfile's virtual-file seek callback complains (harmlessly) about negative seeks in corrupt headers.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning",
                                        "ignore::RuntimeWarning")
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
MAX_SECONDS = 30.0
FUZZ_SETTINGS = dict(deadline=None, database=None, derandomize=False,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])
COUNTS: dict[str, list[int]] = {}  # name -> [cases, failures]
OK_STATUSES = {200, 400, 413, 415, 422}


def examples(n: int) -> int:
    return max(10, int(n * SCALE))


def _encode(rate: int, channels: int, frames: int, fmt: str, subtype: str | None) -> bytes:
    rng = np.random.default_rng(frames + rate)
    data = (rng.standard_normal((frames, channels)) * 0.2).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


SEEDS = [
    _encode(16000, 1, 4000, "WAV", "PCM_16"), _encode(44100, 2, 3000, "WAV", "PCM_U8"),
    _encode(8000, 1, 2000, "WAV", "FLOAT"), _encode(22050, 1, 2000, "WAV", "ULAW"),
    _encode(11025, 2, 2000, "WAV", "IMA_ADPCM"), _encode(48000, 3, 2000, "WAV", "PCM_24"),
    _encode(16000, 1, 4000, "FLAC", None), _encode(32000, 2, 4000, "OGG", "VORBIS"),
    _encode(16000, 1, 2000, "AIFF", None), _encode(8000, 1, 2000, "AU", None),
    _encode(16000, 2, 2000, "W64", None),
]


@st.composite
def audio_files(draw) -> bytes:
    """A seed file with a few mutations, or random bytes (sometimes behind a real magic number)."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=2048))
    if kind == 1:
        magic = draw(st.sampled_from([b"RIFF", b"fLaC", b"OggS", b"FORM", b".snd", b"riff", b"ID3", b"\x1aE\xdf\xa3"]))
        return magic + draw(st.binary(max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data) - 1)) if data else 0
        if op == 0 and data:  # flip a byte, mostly in the header
            pos = draw(st.integers(0, min(len(data) - 1, 80)))
            data[pos] = draw(st.integers(0, 255))
        elif op == 1 and len(data) >= 4:  # overwrite a 32-bit field with an extreme value
            pos = draw(st.integers(0, min(len(data) - 4, 80)))
            value = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0xFFFF, 96000, 1 << 30]))
            data[pos:pos + 4] = value.to_bytes(4, "little")
        elif op == 2:  # truncate
            del data[draw(st.integers(0, len(data))):]
        elif op == 3:  # splice random bytes in
            data[pos:pos] = draw(st.binary(min_size=1, max_size=64))
        elif op == 4 and data:  # repeat a chunk
            chunk = bytes(data[pos:pos + draw(st.integers(1, 512))])
            data[pos:pos] = chunk * draw(st.integers(1, 8))
    return bytes(data)


def _record(name: str, failed: bool) -> None:
    entry = COUNTS.setdefault(name, [0, 0])
    entry[0] += 1
    entry[1] += int(failed)


def _check_decode(data: bytes, name: str) -> None:
    try:
        samples = decode_bytes(data, MAX_SECONDS)
    except AudioDecodeError:
        _record(name, False)
        return
    except BaseException:
        _record(name, True)
        raise
    ok = (isinstance(samples, np.ndarray) and samples.dtype == np.float32 and samples.ndim == 1
          and samples.size > 0 and bool(np.isfinite(samples).all())
          and samples.size <= (MAX_SECONDS + 1) * 16000)
    _record(name, not ok)
    assert ok, (samples.dtype, samples.shape)


def test_corrupt_aiff_seeking_before_the_start_is_refused_quietly(monkeypatch) -> None:
    """Found by the loopback fuzz: libsndfile asked this AIFF for offset -1 and BytesIO raised
    inside a cffi callback, which printed a traceback into the server log."""
    buffer = io.BytesIO()
    sf.write(buffer, (np.sin(np.arange(1600) / 5) * 0.3).astype(np.float32), 16000, format="AIFF", subtype="PCM_16")
    data = bytearray(buffer.getvalue()[:1391])
    data[39] = 12  # the SSND chunk's size field, corrupted
    stray: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: stray.append(report.exc_value))
    with pytest.raises(AudioDecodeError):
        decode_bytes(bytes(data), MAX_SECONDS)
    assert stray == []


@settings(max_examples=examples(5000), **FUZZ_SETTINGS)
@given(audio_files())
def test_decoder_in_process(data: bytes) -> None:
    with mock.patch("dsp.decode.shutil.which", return_value=None):
        _check_decode(data, "decoder in-process (soundfile)")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
@settings(max_examples=examples(100), **FUZZ_SETTINGS)
@given(audio_files())
def test_decoder_with_ffmpeg(data: bytes) -> None:
    _check_decode(data, "decoder in-process (soundfile + ffmpeg)")


@pytest.fixture(scope="module")
def client(models_dir: Path):
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir}")
    from server.app import create_app
    from server.config import parse_config

    app = create_app(parse_config(["--models-dir", str(models_dir), "--max-audio-minutes", "0.5"]),
                     access_log=False)
    with mock.patch("dsp.decode.shutil.which", return_value=None):  # soundfile only: fast and in-process
        yield app.test_client()


FORM_VALUES = st.one_of(st.none(), st.sampled_from(["", "true", "false", "default", "whisper-1", "json", "srt",
                                                     "vtt", "text", "verbose_json", "en", "../model.json"]),
                        st.text(max_size=20))


@settings(max_examples=examples(1500), **FUZZ_SETTINGS)
@given(data=audio_files(), route=st.sampled_from(["/api/transcribe", "/v1/audio/transcriptions"]),
       fields=st.dictionaries(st.sampled_from(["model", "timestamps", "response_format", "language",
                                               "timestamp_granularities[]"]), FORM_VALUES, max_size=4),
       filename=st.text(max_size=30))
def test_upload_routes_in_process(client, data: bytes, route: str, fields: dict, filename: str) -> None:
    form = {k: v for k, v in fields.items() if v is not None}
    form["file"] = (io.BytesIO(data), filename or "f")
    response = client.post(route, data=form, content_type="multipart/form-data")
    ok = response.status_code in OK_STATUSES
    if ok and response.status_code != 200:
        body = response.get_json(silent=True) or {}
        ok = isinstance(body.get("error", {}).get("code"), str)
    _record("upload routes in-process (Flask test client)", not ok)
    assert ok, (response.status_code, response.data[:200])


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory):
    running = start_server(models_dir, tmp_path_factory.mktemp("fuzz") / "server.log", "--max-audio-minutes", "0.5")
    yield running
    stop_server(running)  # no traceback in its log, no 5xx in its metrics


@settings(max_examples=examples(150), **FUZZ_SETTINGS)
@given(data=audio_files(), route=st.sampled_from(["/api/transcribe", "/v1/audio/transcriptions"]))
def test_upload_over_loopback(server, data: bytes, route: str) -> None:
    response = requests.post(server.url + route, files={"file": ("f.bin", data)}, timeout=120)
    ok = response.status_code in OK_STATUSES
    _record("upload over loopback (real server, ffmpeg on)", not ok)
    assert ok, (response.status_code, response.text[:200])


def teardown_module() -> None:
    for name, (cases, failures) in COUNTS.items():
        print(f"\nfuzz: {name}: {cases} cases, {failures} failures")
