"""Audio bytes or files -> 16 kHz mono float32, with soundfile first and ffmpeg second.

soundfile reads wav/flac/ogg in-process; what it cannot read (webm/opus, mp3,
m4a: what browsers and phones record) goes through ffmpeg when it is
installed, run without a shell and with a timeout.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from dsp.resample import TARGET_RATE, resample, to_mono

FFMPEG_TIMEOUT_S = 120


class AudioDecodeError(ValueError):
    """The input is not audio we can decode; the message says why, for the user."""


class FfmpegMissing(AudioDecodeError):
    """A container soundfile cannot read, and no ffmpeg to try."""


def decode_bytes(data: bytes, max_seconds: float | None = None) -> np.ndarray:
    """Decode a whole recording held in memory."""
    if not data:
        raise AudioDecodeError("empty audio")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return _decode_with_ffmpeg(data, max_seconds)
    if rate <= 0 or samples.size == 0:
        raise AudioDecodeError("audio has no samples")
    _check_length(len(samples) / rate, max_seconds)
    return resample(to_mono(samples), rate, TARGET_RATE)


def decode_file(path: str | Path, max_seconds: float | None = None) -> np.ndarray:
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AudioDecodeError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return decode_bytes(data, max_seconds)


def _check_length(seconds: float, max_seconds: float | None) -> None:
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLong(seconds, max_seconds)


class AudioTooLong(AudioDecodeError):
    def __init__(self, seconds: float, limit: float) -> None:
        super().__init__(f"audio is {seconds / 60:.1f} min long; the limit is {limit / 60:.1f} min")
        self.seconds = seconds
        self.limit = limit


def _decode_with_ffmpeg(data: bytes, max_seconds: float | None) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise FfmpegMissing("not a wav/flac/ogg file, and ffmpeg is not installed to decode other formats")
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", "pipe:0"]
    if max_seconds is not None:
        cmd += ["-t", str(max_seconds + 1)]  # stop decoding past the limit: no memory blow-up
    cmd += ["-f", "f32le", "-ac", "1", "-ar", str(TARGET_RATE), "pipe:1"]
    try:
        result = subprocess.run(cmd, input=data, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AudioDecodeError("decoding took too long") from exc
    if result.returncode != 0 or not result.stdout:
        raise AudioDecodeError("not a recognised audio file")
    samples = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    _check_length(len(samples) / TARGET_RATE, max_seconds)
    return samples
