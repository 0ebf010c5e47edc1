"""How many real-time streams one server holds, with uploads running beside them.

The ramp opens N streams at once (N = 1, 2, 4, ...), each a different
program of dev clips sent at real-time pace and started within a random
first second so they do not tick in lockstep, while one upload client posts
dev clips back to back with a short pause. A level passes when every final
arrives within 1 s of the end of speech, no stream sees an error or misses
its ``done``, and no final is lost. "Lost" is checked against the upload
path on the same audio, taken on the idle server before the ramp: the
protocol promises a stream's finals equal the upload's segments. The ramp
stops at the first failing level and after a time budget.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass

from bench.clients import StreamRun, UploadLoop, stream_audio, upload_text
from bench.common import Row, Section, Target, fmt, percentile, wav_bytes
from bench.server import RssSampler, ServerProcess
from bench.streaming import Program, StreamStats, analyse, build_program

FINAL_LIMIT_S = 1.0
TARGET_STREAMS = 8


@dataclass
class Level:
    streams: int
    stats: StreamStats
    lost: int
    mismatched: int
    not_done: int
    uploads: int
    upload_failures: int
    upload_rtf: float
    rss_peak_mb: float
    wall_s: float

    @property
    def passed(self) -> bool:
        worst = max(self.stats.eos_to_final, default=0.0)
        return (worst <= FINAL_LIMIT_S and self.stats.errors == 0 and self.lost == 0 and self.not_done == 0
                and self.upload_failures == 0)


def _lost(expected: list[str], received: list[str]) -> tuple[int, int]:
    """(expected finals missing from what arrived, finals that arrived but match nothing expected)."""
    missing = Counter(expected) - Counter(received)
    extra = Counter(received) - Counter(expected)
    return sum(missing.values()), sum(extra.values())


def run_level(server: ServerProcess, programs: list[Program], expected: list[list[str]], streams: int,
              upload_payloads: list[tuple[bytes, float]], upload_gap_s: float, seed: int) -> Level:
    rng = random.Random(seed)
    runs: list[StreamRun | None] = [None] * streams
    chosen = [i % len(programs) for i in range(streams)]

    def one(index: int, delay: float) -> None:
        time.sleep(delay)
        program = programs[chosen[index]]
        runs[index] = stream_audio(server.ws_url, program.samples, realtime=True, timeout_s=program.seconds * 3 + 30)

    started = time.monotonic()
    with RssSampler(server) as rss, UploadLoop(server.url, upload_payloads, gap_s=upload_gap_s) as uploads:
        threads = [threading.Thread(target=one, args=(i, rng.uniform(0.0, 1.0)), daemon=True) for i in range(streams)]
        for thread in threads:
            thread.start()
        budget = max(p.seconds for p in programs) * 3 + 40
        for thread in threads:
            thread.join(timeout=max(1.0, started + budget - time.monotonic()))
    stats = StreamStats(done=True)
    lost = mismatched = not_done = 0
    for index, run in enumerate(runs):
        if run is None:
            not_done += 1
            lost += len(expected[chosen[index]])
            continue
        stats.merge(analyse(run, programs[chosen[index]]))
        missing, extra = _lost(expected[chosen[index]], run.final_texts())
        lost += missing
        mismatched += extra
        not_done += 0 if run.done else 1
    return Level(streams, stats, lost, mismatched, not_done, len(uploads.results), len(uploads.failures),
                 uploads.rtf, rss.peak, time.monotonic() - started)


def run_concurrency(server: ServerProcess, clips, ladder: list[int], seconds_each: float, budget_s: float,
                    how: str, upload_gap_s: float = 1.0) -> Section:
    """Ramp up until a level fails (or the ladder or the time budget ends)."""
    section = Section("Concurrency (real-time streams + uploads on one server)")
    count = max(ladder)
    programs = [build_program(clips, 2 * i, seconds_each, seed=100 + i) for i in range(min(count, 8))]
    expected = [upload_text(server.url, p.samples) for p in programs]
    upload_payloads = [(wav_bytes(c.samples), c.seconds) for c in clips[:6]]
    levels: list[Level] = []
    started = time.monotonic()
    for n in ladder:
        if time.monotonic() - started > budget_s:
            section.notes.append(f"ramp stopped by its {budget_s:.0f} s time budget before {n} streams")
            break
        level = run_level(server, programs, expected, n, upload_payloads, upload_gap_s, seed=n)
        levels.append(level)
        if not level.passed:
            break
    held = 0
    for level in levels:
        if not level.passed:
            break
        held = level.streams
    audio = sum(p.seconds for p in programs) / len(programs)
    how_row = (f"{how}; N streams of ~{audio:.0f} s dev-speech programs at real-time pace (100 ms frames), "
               f"one upload client posting dev clips with {upload_gap_s:g} s pauses")
    for level in levels:
        s = level.stats
        section.rows.append(Row(
            f"{level.streams} stream{'s' if level.streams > 1 else ''}: {'PASS' if level.passed else 'FAIL'}",
            f"end of speech → final median {fmt(percentile(s.eos_to_final, 50) * 1000, 0)} ms, "
            f"p95 {fmt(percentile(s.eos_to_final, 95) * 1000, 0)} ms, max "
            f"{fmt(max(s.eos_to_final, default=float('nan')) * 1000, 0)} ms (n={len(s.eos_to_final)}); "
            f"errors {s.errors}, lost finals {level.lost}, unexpected finals {level.mismatched}, "
            f"streams without done {level.not_done}; uploads {level.uploads} (failed {level.upload_failures}, "
            f"RTF {fmt(level.upload_rtf, 3)}); server RSS peak {fmt(level.rss_peak_mb, 1)} MB",
            how_row, f"max {fmt(max(s.eos_to_final, default=float('nan')) / FINAL_LIMIT_S, 2)}× the 1 s limit"))
    ceiling = "the ladder's top" if levels and levels[-1].passed else "the first failing level"
    section.rows.insert(0, Row("streams held (every final ≤ 1 s after end of speech, nothing lost)",
                               f"{held} (ramp {', '.join(str(l.streams) for l in levels)}; stopped at {ceiling})",
                               how_row, f"{held / TARGET_STREAMS:.2f}× the target of {TARGET_STREAMS}"))
    # A ladder that ends below the target with every level passing (--quick) has not tested the target.
    judged = None if not levels or (levels[-1].passed and held < TARGET_STREAMS) else held >= TARGET_STREAMS
    section.targets.append(Target("Concurrency", f"≥ {TARGET_STREAMS} real-time streams on 2 cores, every final "
                                  "≤ 1 s after end of speech, zero lost finals",
                                  f"{held} streams held", judged))
    section.notes.append("End of speech includes the server's 600 ms VAD hangover, so a final within 1 s leaves "
                         "400 ms for transcription and queueing. Lost finals are counted against the upload "
                         "path's segments for the same audio (taken on the idle server before the ramp).")
    section.data = {"held": held, "levels": [{**{k: v for k, v in l.__dict__.items() if k != "stats"},
                                              "stats": l.stats.__dict__, "passed": l.passed} for l in levels]}
    return section
