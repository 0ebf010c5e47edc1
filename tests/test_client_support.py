"""Helpers for the client tests: a speech recording played through a real ALSA capture device.

Why a FIFO and not a plain file: ALSA's ``file`` PCM over the ``null`` slave is
not clocked, so it would deliver a file as fast as the CPU reads, and after
the end of the file it repeats stale buffer contents. Feeding ``infile`` from
a FIFO that a writer thread fills at a set pace makes it behave like a
microphone (audio arrives over time, forever). Two ALSA details matter:

* the file plugin does not zero-fill short reads, so the writer writes whole
  periods only: PortAudio's default input period here is 0.0239375 s
  (383 frames at 16 kHz, 1149 at 48 kHz), and a read never straddles writes;
* PortAudio opens every PCM of the configuration when it starts, and opening
  a FIFO for reading blocks until it has a writer, so the test holds the FIFO
  open read-write for its whole life.

This module holds no tests; pytest collects it only because of its name.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from bench.server import free_port  # one helper for the benchmark and the tests

REPO = Path(__file__).resolve().parent.parent
PERIOD_S = 0.0239375  # PortAudio/ALSA default input period with sounddevice's default latency
SPEECH_CLIPS = ("speechbrain_tests/ASR/spk1_snt1.wav", "misc_fixtures/deepspeech_arctic_a0024.wav",
                "speechbrain_tests/ASR/spk2_snt3.wav")
GAP_S = 1.5
TAIL_S = 2.0  # enough silence after the last word for the VAD to close it before any end of stream


def period_frames(rate: int) -> int:
    return int(round(PERIOD_S * rate))


def build_recording(dev_speech: Path, out_dir: Path, rate: int = 16000) -> tuple[np.ndarray, Path]:
    """Clips with silent gaps (several segments), padded to whole periods; also written as a WAV."""
    from dsp.decode import decode_file
    from dsp.resample import resample

    parts = []
    for name in SPEECH_CLIPS:
        parts += [decode_file(dev_speech / name), np.zeros(int(GAP_S * 16000), np.float32)]
    parts[-1] = np.zeros(int(TAIL_S * 16000), np.float32)
    audio16 = np.concatenate(parts)
    audio = resample(audio16, 16000, rate) if rate != 16000 else audio16
    pcm = np.clip(np.round(audio * 32768.0), -32768, 32767).astype("<i2")
    period = period_frames(rate)
    pcm = np.concatenate([pcm, np.zeros((-len(pcm)) % period, "<i2")])
    wav = out_dir / f"speech_{rate}.wav"
    sf.write(wav, pcm, rate, subtype="PCM_16")
    return pcm, wav


@dataclass
class FifoMic:
    """An ALSA device named ``usbmic`` whose samples come from ``feed``'s FIFO at ``speed`` x real time."""

    workdir: Path
    rate: int = 16000
    speed: float = 3.0
    fifo: Path = field(init=False)
    conf: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.fifo = self.workdir / "mic.fifo"
        self.conf = self.workdir / "asound.conf"
        self.conf.write_text(
            f'pcm.filemic {{ type file slave.pcm "null" file "/dev/null" infile "{self.fifo}" format "raw" }}\n'
            f"pcm.usbmic {{ type plug slave {{ pcm \"filemic\" format S16_LE rate {self.rate} channels 1 }} }}\n")
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.written = 0  # frames written so far
        self.speech_done = threading.Event()

    def plug_in(self) -> None:
        """Create the FIFO and hold it open (until then the device cannot be opened: 'unplugged')."""
        if not self.fifo.exists():
            os.mkfifo(self.fifo)
        self._fd = os.open(self.fifo, os.O_RDWR)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{self.conf}"
        env["PYTHONPATH"] = str(REPO)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def feed(self, pcm: np.ndarray, then: np.ndarray | None = None) -> None:
        """Write ``pcm`` paced, then ``then`` looped (silence by default) until :meth:`close`."""
        period = period_frames(self.rate)
        filler = then if then is not None else np.zeros(period * 8, "<i2")
        filler = np.concatenate([filler, np.zeros((-len(filler)) % period, "<i2")])

        def write(block: np.ndarray) -> None:
            for i in range(0, len(block), period):
                if self._stop.is_set():
                    return
                os.write(self._fd, block[i:i + period].tobytes())
                self.written += period
                time.sleep(period / self.rate / self.speed)

        def run() -> None:
            try:
                write(pcm)
                self.speech_done.set()
                while not self._stop.is_set():
                    write(filler)
            except OSError:
                pass

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._fd is not None:
            os.close(self._fd)  # a writer blocked on a full pipe gets EBADF/EPIPE and ends
            self._fd = None


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not up after {timeout} s")


def start_server(models_dir: Path, port: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "server", "--host", "127.0.0.1", "--port", str(port),
                             "--models-dir", str(models_dir)], cwd=REPO, env=env,
                            stdout=log_path.open("ab"), stderr=subprocess.STDOUT)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
    return proc


def start_client(mic: FifoMic, args: list[str], out_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "client.mic", "--device", "usbmic", "--json",
                             "--retry-seconds", "0.5", *args], cwd=REPO, env=mic.env(),
                            stdout=(out_dir / "client.out").open("wb"), stderr=(out_dir / "client.err").open("wb"))


def stop_client(proc: subprocess.Popen, out_dir: Path, timeout: float = 60.0) -> tuple[int, list[dict], str]:
    """SIGTERM (what ``systemctl stop`` sends); returns exit code, JSON lines and the log."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = -9
    lines = [json.loads(x) for x in (out_dir / "client.out").read_text().splitlines() if x.strip()]
    return code, lines, (out_dir / "client.err").read_text()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def reference_segments(wav: Path, models_dir: Path) -> list[tuple[float, float, str]]:
    """The command-line transcriber's (start, end, text) segments for the same audio (``--timestamps`` lines)."""
    out = subprocess.run([sys.executable, "-m", "models.transcribe", "--models-dir", str(models_dir),
                          "--timestamps", str(wav)], cwd=REPO, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    segments = []
    for line in out.stdout.splitlines()[1:]:
        if "]" not in line:
            continue
        times, text = line.split("]", 1)
        start, end = (float(t) for t in times.strip(" [").split(" - "))
        if text.strip():
            segments.append((start, end, text.strip()))
    return segments


def reference_finals(wav: Path, models_dir: Path) -> list[str]:
    return [text for _, _, text in reference_segments(wav, models_dir)]
