"""``python -m bench [--quick]``: run every section against the real server and write the report.

The full run takes a quarter of an hour or so (one hour of audio streamed faster than real
time is most of it); ``--quick`` shrinks every section to a smoke run of about a minute,
which CI uses to prove the benchmark still runs (its numbers are not meant to be quoted).
A section that fails is reported as failed and the others still run; the exit status is 1
when any section failed, whatever the targets say.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

from bench.common import DEFAULT_DATA, REPO, Section, bench_command, load_average, machine, select_clips, wav_bytes
from bench.concurrency import run_concurrency
from bench.memory import run_memory
from bench.offline import run_offline
from bench.pi import run_pi
from bench.report import now, write_report
from bench.server import start_server
from bench.streaming import build_program, run_streaming
from models.registry import ModelRegistry


@dataclass(frozen=True)
class Plan:
    """How big each section is; the two presets below are the only ones used."""

    offline_all_variants: bool
    offline_seconds: float
    streams: int
    stream_seconds: float
    ladder: tuple[int, ...]
    program_seconds: float
    ramp_budget_s: float
    hour_s: float
    hour_timeout_s: float
    pi_wheels: bool


FULL = Plan(True, 120.0, 6, 12.0, (1, 2, 4, 6, 8, 10, 12, 16, 20, 24), 20.0, 600.0, 3600.0, 900.0, True)
QUICK = Plan(False, 12.0, 1, 5.0, (4,), 6.0, 40.0, 60.0, 60.0, False)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about one minute; a smoke run, not numbers to quote")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("TRANSCRIBER_SHARED_DATA", DEFAULT_DATA)),
                        help="shared data root (holds speech/dev)")
    parser.add_argument("--out", type=Path, default=REPO / "bench", help="where RESULTS.md and the charts go")
    parser.add_argument("--server", choices=("gunicorn", "werkzeug"), default="gunicorn")
    parser.add_argument("--no-pi-wheels", action="store_true", help="skip the aarch64 wheel downloads")
    return parser.parse_args(argv)


def busy_note() -> tuple[str, str | None]:
    """Say whether something else was using the CPU: such numbers are flagged, not silently published."""
    load = load_average()[0]
    others = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "cmdline"]):
        cmd = " ".join(proc.info.get("cmdline") or [])
        if proc.info["pid"] != me and "training" in cmd and " train" in cmd:
            others.append(f"pid {proc.info['pid']}: {cmd[:80]}")
    if others:
        return f"{load:.2f}", "Another heavy process ran during this benchmark (" + "; ".join(others) + \
            "): every timing here is inflated and only shows that the benchmark runs."
    if load > 1.0:
        return f"{load:.2f}", "The machine was already busy (1-minute load above 1): timings are inflated."
    return f"{load:.2f}", None


def guarded(title: str, sections: dict[str, Section], key: str, work) -> Section:
    """Run one section; an exception becomes a failed section in the report instead of ending the run."""
    started = time.monotonic()
    print(f"[bench] {title} ...", file=sys.stderr, flush=True)
    try:
        section = work()
    except Exception as exc:  # noqa: BLE001 - the report must say what failed and still be written
        traceback.print_exc()
        section = Section(title, error=f"{type(exc).__name__}: {exc}"[:500])
    print(f"[bench] {title} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    sections[key] = section
    return section


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    host = machine()
    load, warning = busy_note()
    registry = ModelRegistry(args.models_dir)
    variants = registry.available() if plan.offline_all_variants else [registry.default]
    clips = select_clips(args.data, max(plan.offline_seconds, 60.0))
    sections: dict[str, Section] = {}
    guarded("offline", sections, "offline",
            lambda: run_offline(args.models_dir, args.data, variants, plan.offline_seconds, host,
                                registry.default))
    log = Path(tempfile.mkdtemp(prefix="bench-")) / "server.log"  # kept out of the repo; its path is printed
    print(f"[bench] server log: {log}", file=sys.stderr, flush=True)
    server = start_server(args.models_dir, log, kind=args.server)
    how = f"`{bench_command(argv)}`, {server.kind} server ({host})"
    try:
        time.sleep(1.0)
        idle_mb, idle_tree_mb = server.rss_mb(), server.tree_rss_mb()
        requests.post(f"{server.url}/api/transcribe", files={"file": ("w.wav", wav_bytes(clips[0].samples))},
                      timeout=120)  # warm-up, after the idle reading
        streaming = guarded("streaming", sections, "streaming",
                            lambda: run_streaming(server, clips, plan.streams, plan.stream_seconds, how))
        concurrency = guarded("concurrency", sections, "concurrency",
                              lambda: run_concurrency(server, clips, list(plan.ladder), plan.program_seconds,
                                                      plan.ramp_budget_s, how))
        levels = concurrency.data.get("levels") or []
        top = (levels[-1]["streams"], max(l["rss_peak_mb"] for l in levels)) if levels else None
        program = build_program(clips, 0, 30.0, seed=7)
        guarded("memory", sections, "memory",
                lambda: run_memory(server, args.models_dir, idle_mb, idle_tree_mb,
                                   streaming.data.get("one_stream_rss_peak_mb"), top, program, plan.hour_s,
                                   plan.hour_timeout_s, how))
    finally:
        stopping = time.monotonic()
        server.stop()
        print(f"[bench] server stopped in {time.monotonic() - stopping:.1f} s", file=sys.stderr, flush=True)
    held = sections["concurrency"].data.get("held") if "concurrency" in sections else None
    guarded("pi", sections, "pi", lambda: run_pi(sections["offline"].data, held,
                                                 plan.pi_wheels and not args.no_pi_wheels, host))
    model = registry.get()
    context = {"command": bench_command(argv), "date": now(), "seconds": time.monotonic() - started,
               "machine": host, "models_dir": str(args.models_dir), "variants": registry.available(),
               "default": registry.default, "size_mb": f"{model.size_bytes / 1e6:.2f}",
               "data": str(args.data), "server": f"{server.kind}: {server.command} (started healthy in "
               f"{server.startup_s:.2f} s, model load included)", "load": load,
               "load_note": "1-minute average" if not warning else "busy", "warning": warning,
               "quick": args.quick}
    if args.quick:
        context["warning"] = ((context["warning"] + " ") if context["warning"] else "") + \
            "This is a --quick smoke run: every section is shrunk; run `python -m bench` for numbers to quote."
    path = write_report(args.out, sections, context)
    print("[bench] report and charts written", file=sys.stderr, flush=True)
    print(f"[bench] wrote {path} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 1 if any(s.error for s in sections.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
