"""Server memory: idle, one stream, the most streams, and across a one-hour stream.

The one-hour stream is a dev-speech program sent over and over on a single
WebSocket as fast as the server takes it (TCP backpressure paces it), so an
hour of audio takes minutes. RSS is sampled from outside against the audio
position, which shows whether anything grows with stream length (the ring
buffer, resampler history and input queue are all meant to be bounded).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

from bench.clients import stream_repeated
from bench.common import REPO, Row, Section, Target, fmt, python
from bench.server import ServerProcess
from bench.streaming import Program

IDLE_TARGET_MB = 150.0
FLAT_TOLERANCE_MB = 5.0


def _sample_against_progress(server: ServerProcess, progress: list[float], stop: threading.Event,
                             trace: list[tuple[float, float]], interval: float) -> None:
    while not stop.is_set():
        trace.append((progress[0], server.rss_mb()))
        stop.wait(interval)


def long_stream(server: ServerProcess, program: Program, total_s: float, timeout_s: float) -> dict:
    """Stream ``total_s`` of audio on one socket; returns the RSS trace (audio seconds, MB) and counts."""
    progress = [0.0]
    trace: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_against_progress, args=(server, progress, stop, trace, 0.5),
                               daemon=True)
    sampler.start()
    started = time.monotonic()
    run = stream_repeated(server.ws_url, program.samples, total_s, timeout_s=timeout_s, progress=progress)
    wall = time.monotonic() - started
    stop.set()
    sampler.join(timeout=5)
    trace.append((run.audio_s, server.rss_mb()))
    return {"trace": trace, "audio_s": run.audio_s, "wall_s": wall, "finals": len(run.of_type("final")),
            "partials": len(run.of_type("partial")), "errors": run.errors, "done": run.done, "error": run.error}


def footprint(models_dir: Path) -> list[tuple[str, float]]:
    """RSS added by each import and by the model, from ``python -m bench.footprint`` (a fresh process)."""
    done = subprocess.run([python(), "-m", "bench.footprint", "--models-dir", str(models_dir)], cwd=REPO,
                          capture_output=True, text=True, timeout=180)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return [tuple(p) for p in json.loads(line[len("RESULT "):])]
    raise RuntimeError(f"bench.footprint failed: {done.stderr[-800:]}")


def flatness(trace: list[tuple[float, float]]) -> tuple[float, float]:
    """(RSS at the end minus RSS at 10% of the stream, MB; slope over the second half, MB per audio hour)."""
    points = [(a, r) for a, r in trace if r == r and a > 0]
    if len(points) < 4:
        return float("nan"), float("nan")
    audio = np.array([a for a, _ in points])
    rss = np.array([r for _, r in points])
    mark = audio[-1] * 0.1
    early = rss[np.searchsorted(audio, mark):][:1]
    growth = float(rss[-1] - (early[0] if len(early) else rss[0]))
    half = audio >= audio[-1] / 2
    slope = float(np.polyfit(audio[half] / 3600.0, rss[half], 1)[0]) if half.sum() >= 2 else float("nan")
    return growth, slope


def run_memory(server: ServerProcess, models_dir: Path, idle_mb: float, idle_tree_mb: float, one_stream_mb: float | None,
               max_streams: tuple[int, float] | None, program: Program, hour_s: float, timeout_s: float,
               how: str) -> Section:
    section = Section("Memory (server RSS)")
    result = long_stream(server, program, hour_s, timeout_s)
    time.sleep(1.0)
    after_mb = server.rss_mb()
    growth, slope = flatness(result["trace"])
    minutes = result["audio_s"] / 60.0
    section.rows += [
        Row("idle, default model loaded (just started)", f"{fmt(idle_mb, 1)} MB (whole gunicorn tree "
            f"{fmt(idle_tree_mb, 1)} MB)", f"{how}; RSS of the worker that holds the model, read with psutil",
            f"{idle_mb / IDLE_TARGET_MB:.2f}× the {IDLE_TARGET_MB:.0f} MB target"),
        Row("one real-time stream (peak)", f"{fmt(one_stream_mb, 1)} MB", f"{how}; during the streaming section"),
        Row(f"most streams ({max_streams[0] if max_streams else 'n/a'} at once, peak)",
            f"{fmt(max_streams[1] if max_streams else None, 1)} MB",
            f"{how}; during the highest concurrency level run"),
        Row(f"one long stream: {minutes:.0f} min of audio in {result['wall_s']:.0f} s",
            f"RSS growth from 10% to end {fmt(growth, 1)} MB; slope over the second half {fmt(slope, 1)} MB per "
            f"audio hour; {result['finals']} finals, {result['errors']} errors, done={result['done']}",
            f"{how}; one WebSocket, a {program.seconds:.0f} s dev-speech program repeated, sent as fast as the "
            "server accepts (backpressure), RSS sampled every 0.5 s"),
        Row("idle again after the long stream", f"{fmt(after_mb, 1)} MB", how),
    ]
    try:
        parts = footprint(models_dir)
        biggest = sorted(parts, key=lambda p: -p[1])[:4]
        section.rows.append(Row("where idle memory goes (largest parts)",
                                "; ".join(f"{name} {mb:.1f} MB" for name, mb in biggest) +
                                f"; sum of all parts {sum(mb for _, mb in parts):.1f} MB",
                                f"`python -m bench.footprint --models-dir {models_dir}`: RSS before and after "
                                "each import, in the order the server loads them"))
        section.data["footprint"] = parts
    except (RuntimeError, subprocess.SubprocessError) as exc:
        section.notes.append(f"footprint not measured: {str(exc)[:200]}")
    if result["audio_s"] < hour_s - 1:
        section.notes.append(f"The long stream reached {minutes:.1f} of {hour_s / 60:.0f} minutes before its "
                             f"{timeout_s:.0f} s time limit ({result['error']}).")
    section.targets.append(Target("Idle memory", f"server RSS ≤ {IDLE_TARGET_MB:.0f} MB with one model, idle",
                                  f"{fmt(idle_mb, 1)} MB", idle_mb <= IDLE_TARGET_MB if idle_mb == idle_mb else None))
    judged = growth == growth and hour_s >= 3600 and result["audio_s"] >= hour_s - 1
    section.targets.append(Target("Flat memory", f"no growth over a one-hour stream (≤ {FLAT_TOLERANCE_MB:g} MB "
                                  "from 10% to the end)",
                                  f"{fmt(growth, 1)} MB over {minutes:.0f} min of audio" if judged else
                                  f"only {minutes:.0f} min of audio streamed",
                                  growth <= FLAT_TOLERANCE_MB if judged else None))
    if hour_s < 3600:
        section.notes.append(f"--quick streams {hour_s / 60:.0f} minutes, not an hour: the flatness target is "
                             "only judged on the full run.")
    section.data.update({**result, "growth_mb": growth, "slope_mb_per_hour": slope, "idle_mb": idle_mb,
                         "after_mb": after_mb})
    return section
