"""What every section shares: the dev audio, the result rows, the machine description.

Rows carry their own "how measured" text because a number without its
command, audio and machine cannot be compared with a rerun; sections return
plain dataclasses so the report can be written from them alone.
"""

from __future__ import annotations

import io
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from training.evaluate import Clip, load_dev

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "data"
RATE = 16000


@dataclass
class Row:
    """One line of a results table: what, how much, and how it was measured."""

    metric: str
    value: str
    how: str
    ratio: str = ""  # beside the peer or the target, when there is one


@dataclass
class Target:
    """A promise from the issue, checked against a measurement (``met`` None = not measured)."""

    name: str
    goal: str
    measured: str
    met: bool | None


@dataclass
class Section:
    """A report section: rows, notes, chart files and the raw numbers (for results.json)."""

    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    charts: list[str] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    error: str | None = None


def machine() -> str:
    """CPU model, core count, OS and Python: the 'machine' part of every row."""
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def load_average() -> tuple[float, float, float]:
    """System load before a run: numbers taken beside another busy process are flagged with it."""
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def select_clips(data_dir: Path, max_seconds: float) -> list[Clip]:
    """Dev clips round-robin over the three corpora until ``max_seconds`` of audio (deterministic)."""
    clips = load_dev(data_dir)
    by_folder: dict[str, list[Clip]] = {}
    for clip in clips:
        by_folder.setdefault(clip.name.split("/", 1)[0], []).append(clip)
    queues = [sorted(v, key=lambda c: c.name) for _, v in sorted(by_folder.items())]
    chosen: list[Clip] = []
    total = 0.0
    while any(queues) and total < max_seconds:
        for queue in queues:
            if queue and total < max_seconds:
                clip = queue.pop(0)
                chosen.append(clip)
                total += clip.seconds
    return chosen


def quiet(seconds: float, seed: int = 0) -> np.ndarray:
    """Low noise (-80 dBFS), not digital zero: what a quiet room sends, and what the VAD calls silence."""
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(int(seconds * RATE)) * 1e-4).astype(np.float32)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def wav_bytes(samples: np.ndarray) -> bytes:
    """An in-memory 16 kHz WAV for uploads, so uploads and streams carry identical audio."""
    buffer = io.BytesIO()
    pcm = np.frombuffer(to_pcm16(samples), dtype="<i2")  # the very integers a stream sends
    sf.write(buffer, pcm, RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def fmt(value: float | None, digits: int = 3, unit: str = "") -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:.{digits}f}{unit}"


def bench_command(argv: list[str]) -> str:
    return " ".join(["python -m bench", *argv]) if argv else "python -m bench"


def python() -> str:
    return sys.executable
