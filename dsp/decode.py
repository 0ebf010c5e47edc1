"""Audio bytes or files -> 16 kHz mono float32, with soundfile first and ffmpeg second.

soundfile reads wav/flac/ogg in-process; what it cannot read (webm/opus, mp3,
m4a: what browsers and phones record) goes through ffmpeg when it is
installed, run without a shell and with a timeout.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import soundfile as sf

from dsp.resample import TARGET_RATE, resample, to_mono

FFMPEG_TIMEOUT_S = 120
MIN_FILE_RATE, MAX_FILE_RATE = 1000, 768000  # what a real recording can have
MAX_RATIO_TERM = 1000  # largest up/down factor handed to the polyphase resampler
BLOCK_FRAMES = 1 << 16  # frames per soundfile read: bounds how far past a length limit we ever decode


class AudioDecodeError(ValueError):
    """The input is not audio we can decode; the message says why, for the user."""


class FfmpegMissing(AudioDecodeError):
    """A container soundfile cannot read, and no ffmpeg to try."""


class _ClampedBytes(io.BytesIO):
    """In-memory audio for libsndfile, whose parser may ask a corrupt file for a negative offset.

    ``BytesIO`` raises there, inside a cffi callback that cannot propagate it, so
    Python prints a traceback to stderr for a request that is refused cleanly
    anyway. Clamping to the start makes libsndfile fail on the bad header itself.
    """

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET and offset < 0:
            offset = 0
        return super().seek(offset, whence)


def decode_bytes(data: bytes, max_seconds: float | None = None) -> np.ndarray:
    """Decode a whole recording held in memory, refusing it as soon as it runs past ``max_seconds``."""
    if not data:
        raise AudioDecodeError("empty audio")
    try:
        sound = sf.SoundFile(_ClampedBytes(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return _decode_with_ffmpeg(data, max_seconds)
    with sound:
        rate = sound.samplerate
        if not MIN_FILE_RATE <= rate <= MAX_FILE_RATE:
            # A corrupt header's rate would also defeat the length check (frames / rate)
            # and make the resampler's filter as long as the rate is large.
            raise AudioDecodeError(f"unsupported sample rate {rate} Hz")
        # The header's frame count is a cheap early refusal, but a header can lie (and FLAC
        # or Ogg can pack hours of silence into a few MB), so the limit is also enforced
        # on what is actually decoded, block by block, before it can fill memory.
        if 0 < sound.frames < 2 ** 62:
            _check_length(sound.frames / rate, max_seconds)
        samples = _read_blocks(sound, rate, max_seconds)
    if samples.size == 0:
        raise AudioDecodeError("audio has no samples")
    return _resample_bounded(_finite(samples), rate)


def _resample_bounded(samples: np.ndarray, rate: int) -> np.ndarray:
    """``resample`` to 16 kHz, with the polyphase ratio kept small.

    Every common rate reduces to at most 441 up/down (44.1 kHz: 160/441), but an
    odd rate such as 44101 Hz gives 16000/44101 and a filter of ~900k taps per
    file: seconds of CPU and a lot of memory for one request. Such ratios are
    replaced by the nearest fraction with a denominator of at most 1000
    (an error under 0.1 %, far below what the model can hear).
    """
    ratio = Fraction(TARGET_RATE, rate)
    if max(ratio.numerator, ratio.denominator) <= MAX_RATIO_TERM:
        return resample(samples, rate, TARGET_RATE)
    approx = ratio.limit_denominator(MAX_RATIO_TERM)
    return resample(samples, approx.denominator, approx.numerator)


def _finite(samples: np.ndarray) -> np.ndarray:
    """Float files may hold NaN, inf or huge values; none may reach the VAD or the model (as in streams)."""
    if np.isfinite(samples).all() and np.abs(samples).max(initial=0.0) <= 1.0:
        return samples
    return np.clip(np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def _read_blocks(sound: sf.SoundFile, rate: int, max_seconds: float | None) -> np.ndarray:
    """Mono float32 of the whole file, read in blocks and stopped past the limit."""
    limit = None if max_seconds is None else int(max_seconds * rate) + 1
    blocks: list[np.ndarray] = []
    total = 0
    try:
        while True:
            block = sound.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            blocks.append(to_mono(block))
            total += len(block)
            if limit is not None and total > limit:
                raise AudioTooLong(total / rate, max_seconds, at_least=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        if isinstance(exc, AudioDecodeError):
            raise
        raise AudioDecodeError("the audio data is corrupt") from None
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


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
    def __init__(self, seconds: float, limit: float, at_least: bool = False) -> None:
        length = "longer than" if at_least else "about"
        super().__init__(f"audio is {length} {seconds / 60:.1f} min; the limit is {limit / 60:.1f} min")
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
    return _finite(samples)
