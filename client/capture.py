"""Microphone capture through sounddevice (PortAudio), with retry when the device goes away.

The PortAudio callback only copies blocks into a queue: anything slower in that
thread makes the device overrun. A supervisor thread turns the blocks into
16 kHz mono float32 (channel average, then :class:`dsp.stream_resample.StreamingResampler`,
whose chunked output equals ``resample_poly`` of the whole, so capture at
44.1/48 kHz is transcribed from the same samples as a file at that rate) and
hands them to an :class:`~client.audioqueue.AudioQueue`.

A microphone that is missing at start, unplugged, or stops delivering audio
is retried every ``retry_s`` with one clear log line per state change; PortAudio
is re-initialised before each retry because it only enumerates devices at start.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import numpy as np

from client.audioqueue import RATE, AudioQueue
from dsp.stream_resample import StreamingResampler

log = logging.getLogger(__name__)

PREFERRED_RATES = (16000, 48000, 44100, 32000, 22050)


def _sd():
    """Import sounddevice lazily: ``--help`` must work on a machine without libportaudio2."""
    import sounddevice

    return sounddevice


def list_devices() -> list[dict[str, Any]]:
    """Input-capable devices, as ``--list-devices`` prints them."""
    sd = _sd()
    default_in = sd.default.device[0]
    rows = []
    for index, dev in enumerate(sd.query_devices()):
        if dev["max_input_channels"] > 0:
            rows.append({"index": index, "name": dev["name"], "channels": dev["max_input_channels"],
                         "default_rate": int(dev["default_samplerate"]), "default": index == default_in,
                         "hostapi": sd.query_hostapis(dev["hostapi"])["name"]})
    return rows


def resolve_device(spec: str | int | None) -> int | None:
    """An index, an exact name, or a unique substring of an input device's name -> its index."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, int) or str(spec).isdigit():
        return int(spec)
    devices = list_devices()
    exact = [d["index"] for d in devices if d["name"] == spec]
    if exact:
        return exact[0]
    matches = [d for d in devices if str(spec).lower() in d["name"].lower()]
    if len(matches) == 1:
        return matches[0]["index"]
    if not matches:
        raise LookupError(f"no input device matching {spec!r}")
    raise LookupError(f"{spec!r} matches several devices: {', '.join(d['name'] for d in matches)}")


def choose_format(device: int | None, rate: int | None) -> tuple[int, int]:
    """(rate, channels): 16 kHz mono when the device takes it, else what it supports."""
    sd = _sd()
    info = sd.query_devices(device, "input")
    channel_options = [1] + ([2] if info["max_input_channels"] >= 2 else [])
    rates = [rate] if rate else list(dict.fromkeys([*PREFERRED_RATES[:1], int(info["default_samplerate"]),
                                                    *PREFERRED_RATES[1:]]))
    errors = []
    for candidate in rates:
        for channels in channel_options:
            try:
                sd.check_input_settings(device, channels=channels, dtype="int16", samplerate=candidate)
                return int(candidate), channels
            except Exception as exc:  # noqa: BLE001 - PortAudio reports unsupported formats many ways
                errors.append(f"{candidate} Hz x{channels}: {exc}")
    raise LookupError(f"device supports none of the tried formats ({'; '.join(errors[:3])})")


class MicCapture:
    """Captures until :meth:`stop`; survives the device vanishing and coming back."""

    def __init__(self, out: AudioQueue, device: str | int | None = None, rate: int | None = None,
                 retry_s: float = 2.0, stall_s: float = 5.0, max_pending_s: float = 30.0, gain_db: float = 0.0) -> None:
        self.out = out
        # software gain for microphones too quiet for the VAD that have no ALSA capture control
        self.gain = float(10 ** (gain_db / 20))
        self.device_spec = device
        self.rate_override = rate
        self.retry_s = retry_s
        self.stall_s = stall_s
        self.max_pending_s = max_pending_s
        self._raw: queue.Queue[np.ndarray] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._overflows = 0
        self._dropped_blocks = 0
        self.opened = threading.Event()  # set each time a stream is open (tests and logs)
        self.rate: int | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop capture, convert what was captured, and close the output queue."""
        self._stop.set()
        self._thread.join(timeout)
        self.out.close()

    # -- supervisor thread ---------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        failing_reason = None
        while not self._stop.is_set():
            try:
                stream, resampler, channels = self._open(reinit=attempt > 0)
            except Exception as exc:  # noqa: BLE001 - any failure to open means "not there yet"
                reason = f"{exc}".strip() or type(exc).__name__
                if reason != failing_reason:
                    log.error("microphone %s unavailable: %s; retrying every %.0f s",
                              self._label(), reason, self.retry_s)
                    failing_reason = reason
                attempt += 1
                self._stop.wait(self.retry_s)
                continue
            if failing_reason is not None:
                log.warning("microphone %s is back", self._label())
            failing_reason = None
            attempt += 1
            try:
                self._pump(stream, resampler, channels)
            finally:
                self._close(stream)
                self._drain(resampler, channels)
                self.out.put(np.clip(resampler.flush(), -1.0, 1.0))
                self.opened.clear()

    def _label(self) -> str:
        return repr(self.device_spec) if self.device_spec not in (None, "") else "(default input)"

    def _open(self, reinit: bool):
        sd = _sd()
        if reinit:  # PortAudio enumerates devices once; a re-plugged USB mic needs a fresh scan.
            sd._terminate()
            sd._initialize()
        device = resolve_device(self.device_spec)
        rate, channels = choose_format(device, self.rate_override)
        stream = sd.InputStream(device=device, samplerate=rate, channels=channels, dtype="int16",
                                callback=self._callback)
        stream.start()
        self.rate = rate
        name = sd.query_devices(device, "input")["name"]
        log.info("capturing from %r at %d Hz, %d channel(s)%s", name, rate, channels,
                 "" if rate == RATE else f", resampled to {RATE} Hz")
        self.opened.set()
        return stream, StreamingResampler(rate, RATE), channels

    def _callback(self, indata: np.ndarray, frames: int, time_info: Any, status: Any) -> None:
        """PortAudio's thread: copy and go. Bounded so a stuck consumer cannot eat the RAM."""
        if status and status.input_overflow:
            self._overflows += 1
        if self._raw.qsize() * frames > self.max_pending_s * (self.rate or RATE):
            self._dropped_blocks += 1
            return
        self._raw.put(indata.copy())

    def _pump(self, stream, resampler: StreamingResampler, channels: int) -> None:
        last_data = time.monotonic()
        reported_overflows = reported_drops = 0
        while not self._stop.is_set():
            try:
                block = self._raw.get(timeout=0.2)
            except queue.Empty:
                silent_for = time.monotonic() - last_data
                if not stream.active or silent_for > self.stall_s:
                    log.error("microphone %s stopped delivering audio (unplugged?) after %.1f s of nothing; reopening",
                              self._label(), silent_for)
                    return
                continue
            last_data = time.monotonic()
            self._convert(block, resampler, channels)
            if self._overflows != reported_overflows:
                reported_overflows = self._overflows
                log.warning("input overflow: the device dropped audio (%d times so far)", reported_overflows)
            if self._dropped_blocks != reported_drops:
                reported_drops = self._dropped_blocks
                log.warning("capture backlog over %.0f s: dropped %d block(s) so far", self.max_pending_s, reported_drops)

    def _convert(self, block: np.ndarray, resampler: StreamingResampler, channels: int) -> None:
        samples = block.astype(np.float32) * (self.gain / 32768.0)
        mono = samples.mean(axis=1) if channels > 1 else samples[:, 0]
        self.out.put(np.clip(resampler.accept(mono), -1.0, 1.0))

    def _drain(self, resampler: StreamingResampler, channels: int) -> None:
        while True:
            try:
                self._convert(self._raw.get_nowait(), resampler, channels)
            except queue.Empty:
                return

    @staticmethod
    def _close(stream, timeout: float = 3.0) -> None:
        """Stop the stream without risking a hang on a wedged device (close runs in a side thread)."""
        def close() -> None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # noqa: BLE001 - the device may already be gone
                log.debug("closing the stream: %s", exc)

        closer = threading.Thread(target=close, name="capture-close", daemon=True)
        closer.start()
        closer.join(timeout)
        if closer.is_alive():
            log.warning("the audio device did not close within %.0f s; continuing without it", timeout)
