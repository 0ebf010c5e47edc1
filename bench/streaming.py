"""Streaming latency of one real-time stream: end of speech to final, partial cadence, first partial.

Audio is a "program": dev clips with quiet between them (longer than the VAD
hangover, so finals come from the VAD closing segments, as they do live) and a
quiet tail before ``eof``. Timings are client-side, on one monotonic clock:

* end of speech → final: when the final arrived minus when the audio at
  ``final.end - hangover`` had been sent. The server's ``end`` is where its VAD
  closed the segment, i.e. the last speech frame plus the hangover, so
  ``end - hangover`` is where speech stopped.
* beyond the hangover: the same, measured from ``final.end``: the part the
  server's processing adds.
* partial cadence: gaps between successive partials of one segment.
* first partial: from the first voiced 30 ms frame of a clip (webrtcvad, the
  server's own VAD settings) to the first partial after it.

Finals closed by ``eof`` rather than the VAD are counted but not timed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bench.clients import StreamRun, stream_audio
from bench.common import RATE, Row, Section, Target, fmt, percentile, quiet
from bench.server import RssSampler, ServerProcess
from dsp.vad import FRAME_SAMPLES, VadConfig, VadSegmenter

HANGOVER_S = VadConfig().hangover_ms / 1000.0
LEAD_S, GAP_S, TAIL_S = 0.5, 1.2, 1.5
PARTIAL_TARGET_S = 0.3
FINAL_TARGET_BEYOND_S = 0.3


@dataclass
class Program:
    """Audio to stream and where speech starts in it (seconds)."""

    samples: np.ndarray
    onsets: list[float]
    names: list[str]

    @property
    def seconds(self) -> float:
        return len(self.samples) / RATE


def first_voiced(samples: np.ndarray) -> float:
    """Offset of the first 30 ms frame webrtcvad (server settings) calls speech; 0 if none."""
    vad = VadSegmenter(VadConfig())
    for index in range(len(samples) // FRAME_SAMPLES):
        if vad.is_speech(samples[index * FRAME_SAMPLES:(index + 1) * FRAME_SAMPLES]):
            return index * FRAME_SAMPLES / RATE
    return 0.0


def build_program(clips, first: int, min_seconds: float, seed: int = 0) -> Program:
    """Clips from index ``first`` (wrapping) with quiet between, until ``min_seconds`` of audio."""
    pieces = [quiet(LEAD_S, seed)]
    onsets: list[float] = []
    names: list[str] = []
    position = LEAD_S
    index = first
    while position < min_seconds or not names:
        clip = clips[index % len(clips)]
        onsets.append(position + first_voiced(clip.samples))
        names.append(clip.name)
        pieces += [clip.samples, quiet(GAP_S, seed + index + 1)]
        position += clip.seconds + GAP_S
        index += 1
        if index - first > 10 * len(clips):
            break
    pieces.append(quiet(TAIL_S - GAP_S + 0.01, seed + 999))
    return Program(np.concatenate(pieces).astype(np.float32), onsets, names)


@dataclass
class StreamStats:
    """Per-stream latencies (seconds) and counts."""

    eos_to_final: list[float] = field(default_factory=list)
    beyond_hangover: list[float] = field(default_factory=list)
    partial_gaps: list[float] = field(default_factory=list)
    first_partial: list[float] = field(default_factory=list)
    finals: int = 0
    finals_at_eof: int = 0
    errors: int = 0
    done: bool = False

    def merge(self, other: "StreamStats") -> None:
        for name in ("eos_to_final", "beyond_hangover", "partial_gaps", "first_partial"):
            getattr(self, name).extend(getattr(other, name))
        self.finals += other.finals
        self.finals_at_eof += other.finals_at_eof
        self.errors += other.errors
        self.done = self.done and other.done


def analyse(run: StreamRun, program: Program) -> StreamStats:
    stats = StreamStats(errors=run.errors, done=run.done)
    if not run.send_times:
        return stats
    for received, message in run.of_type("final"):
        stats.finals += 1
        end = float(message["end"])
        if end >= run.audio_s - 0.05:
            stats.finals_at_eof += 1
            continue
        stats.beyond_hangover.append(received - run.sent_at(end))
        stats.eos_to_final.append(received - run.sent_at(end - HANGOVER_S))
    last: dict[int, float] = {}
    for received, message in run.of_type("partial"):
        segment = message["segment"]
        if segment in last:
            stats.partial_gaps.append(received - last[segment])
        last[segment] = received
    partials = run.of_type("partial")
    for i, onset in enumerate(program.onsets):
        sent = run.sent_at(onset)
        until = run.sent_at(program.onsets[i + 1]) if i + 1 < len(program.onsets) else float("inf")
        seen = {m["segment"] for t, m in run.messages if t <= sent and "segment" in m}
        first = next((t for t, m in partials if sent < t < until and m["segment"] not in seen), None)
        if first is not None:
            stats.first_partial.append(first - sent)
    return stats


def summary(values: list[float]) -> str:
    if not values:
        return "n/a (none observed)"
    return (f"median {fmt(percentile(values, 50) * 1000, 0)} ms, p95 {fmt(percentile(values, 95) * 1000, 0)} ms, "
            f"max {fmt(max(values) * 1000, 0)} ms (n={len(values)})")


def run_streaming(server: ServerProcess, clips, streams: int, seconds_each: float, how: str) -> Section:
    """``streams`` one-at-a-time real-time streams of about ``seconds_each`` s each."""
    section = Section("Streaming latency (one real-time stream)")
    total = StreamStats(done=True)
    runs = []
    with RssSampler(server) as rss:
        for i in range(streams):
            program = build_program(clips, i * 3, seconds_each, seed=i)
            run = stream_audio(server.ws_url, program.samples, realtime=True,
                               timeout_s=program.seconds * 3 + 30)
            total.merge(analyse(run, program))
            runs.append((program.names, run.audio_s, run.error))
    audio = sum(a for _, a, _ in runs)
    how_row = f"{how}; {streams} stream{'s' if streams > 1 else ''} one after another, {audio:.0f} s of dev speech with quiet gaps, 100 ms frames at real-time pace"
    section.rows += [
        Row("end of speech → final", summary(total.eos_to_final), how_row,
            f"includes the {HANGOVER_S * 1000:.0f} ms VAD hangover"),
        Row("final beyond the VAD hangover", summary(total.beyond_hangover), how_row,
            f"target median ≤ {FINAL_TARGET_BEYOND_S * 1000:.0f} ms"),
        Row("gap between partials (same segment)", summary(total.partial_gaps), how_row,
            f"{_share(total.partial_gaps, PARTIAL_TARGET_S)} of gaps ≤ {PARTIAL_TARGET_S * 1000:.0f} ms"),
        Row("speech onset → first partial", summary(total.first_partial), how_row,
            "includes the VAD start window (240 ms) and one 160 ms model chunk"),
        Row("finals / closed at eof / errors / streams without done",
            f"{total.finals} / {total.finals_at_eof} / {total.errors} / {sum(1 for _, _, e in runs if e)}",
            how_row),
        Row("server RSS during one stream (peak)", f"{fmt(rss.peak, 1)} MB", how_row),
    ]
    median_beyond = percentile(total.beyond_hangover, 50)
    section.targets.append(Target("Final latency", f"median ≤ {FINAL_TARGET_BEYOND_S * 1000:.0f} ms beyond the "
                                  f"{HANGOVER_S * 1000:.0f} ms VAD hangover",
                                  f"median {fmt(median_beyond * 1000, 0)} ms",
                                  None if not total.beyond_hangover else median_beyond <= FINAL_TARGET_BEYOND_S))
    p95_gap = percentile(total.partial_gaps, 95)
    section.targets.append(Target("Partial cadence", f"a partial at least every {PARTIAL_TARGET_S * 1000:.0f} ms "
                                  "during speech (judged on the 95th percentile gap)",
                                  f"p95 {fmt(p95_gap * 1000, 0)} ms, max "
                                  f"{fmt(max(total.partial_gaps, default=float('nan')) * 1000, 0)} ms",
                                  None if not total.partial_gaps else p95_gap <= PARTIAL_TARGET_S + 1e-3))
    if not total.partial_gaps:
        section.notes.append("No partial gaps were observed: the model produced no (or one-update) text, so "
                             "cadence and first-partial latency cannot be judged with this model.")
    section.data = {"one_stream_rss_peak_mb": rss.peak, "stats": total.__dict__, "runs": runs}
    return section


def _share(values: list[float], limit: float) -> str:
    if not values:
        return "n/a"
    return f"{100.0 * sum(v <= limit + 1e-3 for v in values) / len(values):.0f}%"
