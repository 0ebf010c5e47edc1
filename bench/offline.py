"""Offline speed: every model variant on 1 and 2 threads, and pocketsphinx, on the same dev audio.

Each configuration runs in a fresh process (``python -m bench.offline
--variant V --threads T ...``) so its peak RSS and load time are its own and
not what an earlier variant left behind. Our side runs
``ModelRegistry.transcribe`` (VAD, features, TFLite, the card's decoder: the
path uploads use); pocketsphinx runs through ``training.evaluate.evaluate_pocketsphinx``,
the same driver the model report uses, so the two reports cannot disagree
about how the peer was driven.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.common import REPO, Row, Section, Target, fmt, python, select_clips
from training.wer import corpus_wer

PEER = "pocketsphinx"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # KiB on Linux


def _measure_variant(models_dir: Path, variant: str, threads: int, clips) -> dict:
    from models.registry import ModelRegistry
    from models.session import finals_text

    before = _peak_mb()
    started = time.perf_counter()
    registry = ModelRegistry(models_dir, default=variant, threads=threads, pool_size=1)
    registry.get(variant)
    registry.beam_decoder()
    load_s = time.perf_counter() - started
    registry.transcribe(clips[0].samples[:16000], variant)  # warm-up: first-invoke allocations are not speed
    wall = cpu = 0.0
    hypotheses = []
    for clip in clips:
        w0, c0 = time.perf_counter(), time.process_time()
        finals = registry.transcribe(clip.samples, variant)
        wall += time.perf_counter() - w0
        cpu += time.process_time() - c0
        hypotheses.append(finals_text(finals))
    audio = sum(c.seconds for c in clips)
    return {"system": variant, "threads": threads, "load_s": load_s, "rtf_wall": wall / audio, "rtf_cpu": cpu / audio,
            "peak_mb": _peak_mb(), "peak_before_load_mb": before, "audio_s": audio,
            "size_mb": registry.get(variant).size_bytes / 1e6,
            "wer": corpus_wer([c.reference for c in clips], hypotheses)}


def _measure_pocketsphinx(clips) -> dict:
    from pocketsphinx import Decoder

    from training.evaluate import evaluate_pocketsphinx

    before = _peak_mb()
    started = time.perf_counter()
    Decoder(loglevel="FATAL")  # load time only; evaluate_pocketsphinx builds (and times) its own
    load_s = time.perf_counter() - started
    shortest = min(clips, key=lambda c: c.seconds)  # its second corpus (digits) must not be empty
    w0 = time.perf_counter()
    result = evaluate_pocketsphinx(clips, [shortest])
    wall = time.perf_counter() - w0
    audio = sum(c.seconds for c in clips)
    return {"system": PEER, "threads": 1, "load_s": load_s, "rtf_wall": wall / (audio + shortest.seconds), "rtf_cpu": result.rtf_path,
            "peak_mb": _peak_mb(), "peak_before_load_mb": before, "audio_s": audio, "size_mb": None,
            "wer": result.dev_wer}


def worker(argv: list[str] | None = None) -> None:
    """Entry point of the per-configuration process: prints one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m bench.offline")
    parser.add_argument("--models-dir", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args(argv)
    clips = select_clips(args.data, args.seconds)
    if args.variant == PEER:
        result = _measure_pocketsphinx(clips)
    else:
        result = _measure_variant(args.models_dir, args.variant, args.threads, clips)
    result["clips"] = len(clips)
    print("RESULT " + json.dumps(result), flush=True)


def _run_worker(models_dir: Path, data: Path, variant: str, threads: int, seconds: float, timeout_s: float) -> dict:
    argv = [python(), "-m", "bench.offline", "--models-dir", str(models_dir), "--data", str(data),
            "--variant", variant, "--threads", str(threads), "--seconds", str(seconds)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout_s)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{variant}/{threads}: exit {done.returncode}: {done.stderr[-1500:]}")


def run_offline(models_dir: Path, data: Path, variants: list[str], seconds: float, machine: str,
                default_variant: str, timeout_s: float = 900.0) -> Section:
    """One row per (variant, threads) and one for pocketsphinx, with ratios to the peer's CPU RTF."""
    section = Section("Offline speed (uploads path)")
    results = []
    for variant in variants:
        for threads in (1, 2):
            results.append(_run_worker(models_dir, data, variant, threads, seconds, timeout_s))
    peer = None
    try:
        peer = _run_worker(models_dir, data, PEER, 1, seconds, timeout_s)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        section.notes.append(f"pocketsphinx could not be measured: {str(exc)[:300]}")
    section.data = {"results": results, "peer": peer}
    audio = results[0]["audio_s"] if results else 0.0
    clips = results[0]["clips"] if results else 0
    how = (f"`python -m bench.offline --variant V --threads T --seconds {seconds:g}` (fresh process each), "
           f"{clips} dev clips, {audio:.0f} s; {machine}")
    for r in results:
        ratio = f"{r['rtf_cpu'] / peer['rtf_cpu']:.2f}× pocketsphinx CPU time" if peer and peer["rtf_cpu"] else ""
        section.rows.append(Row(
            f"{r['system']}, {r['threads']} thread{'s' if r['threads'] > 1 else ''}",
            f"RTF {fmt(r['rtf_wall'])} wall / {fmt(r['rtf_cpu'])} CPU; load {fmt(r['load_s'], 2)} s; "
            f"peak RSS {fmt(r['peak_mb'], 0)} MB; file {fmt(r['size_mb'], 2)} MB; WER {fmt(r['wer'], 3)}",
            how, ratio))
    if peer:
        section.rows.append(Row(
            "pocketsphinx 5 (en-us, its LM), 1 thread",
            f"RTF {fmt(peer['rtf_wall'])} wall / {fmt(peer['rtf_cpu'])} CPU; load {fmt(peer['load_s'], 2)} s; "
            f"peak RSS {fmt(peer['peak_mb'], 0)} MB; WER {fmt(peer['wer'], 3)}",
            how + " (driven by training.evaluate.evaluate_pocketsphinx)", "1.00× (the peer)"))
    section.notes.append("RTF = processing seconds / audio seconds (lower is faster); 'CPU' counts process CPU "
                         "time, which is what the peer comparison uses (a 2-thread run may use more CPU than wall "
                         "time). Peak RSS is the process's maximum resident set (imports + model + decoding).")
    default = next((r for r in results if r["threads"] == 1 and r["system"] == default_variant), None)
    if default:
        section.targets.append(Target("Offline speed", "faster than real time on 1 thread (RTF < 1)",
                                      f"{default['system']}: RTF {fmt(default['rtf_wall'])}",
                                      default["rtf_wall"] < 1.0))
    return section


if __name__ == "__main__":
    worker(sys.argv[1:])
