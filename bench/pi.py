"""Raspberry Pi 4 projection: do the runtime requirements install on aarch64, and how fast will it be?

Wheels: each line of ``requirements.txt`` is fetched with ``pip download
--only-binary=:all: --platform manylinux2014_aarch64 --python-version 3.11
--no-deps`` (what a Pi on 64-bit Raspberry Pi OS / Debian 12 with Python 3.11
would install); a package whose aarch64 wheels carry a newer tag only (for
example ``manylinux_2_28_aarch64``) is retried with those tags, and the tag
that worked is reported. Speed cannot be measured without a Pi, so the
projection multiplies the measured figures by a stated per-core slowdown.
"""

from __future__ import annotations

import re
from importlib import metadata
import subprocess
import tempfile
from pathlib import Path

from bench.common import REPO, Row, Section, fmt, python

BASE_TAG = "manylinux2014_aarch64"
EXTRA_TAGS = ["manylinux_2_17_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64", "linux_aarch64"]
# Per-core slowdown of a Pi 4 (Cortex-A72, 1.5 GHz) against one core of this machine: an assumption, see notes.
SLOWDOWN, SLOWDOWN_LOW, SLOWDOWN_HIGH = 5.0, 3.0, 8.0
PI_CORES = 4


def runtime_requirements(path: Path = REPO / "requirements.txt") -> list[str]:
    """Requirement specifiers, comments and blank lines dropped."""
    specs = []
    for line in path.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if spec and not spec.startswith("-"):
            specs.append(spec)
    return specs


def _download(spec: str, tags: list[str], target: Path, timeout_s: float) -> tuple[bool, str]:
    argv = [python(), "-m", "pip", "download", "--only-binary=:all:", "--python-version", "3.11", "--no-deps",
            "--disable-pip-version-check", "-q", "-d", str(target)]
    for tag in tags:
        argv += ["--platform", tag]
    try:
        done = subprocess.run([*argv, spec], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {timeout_s:.0f} s"
    lines = (done.stderr or done.stdout).strip().splitlines()
    return done.returncode == 0, (lines[-1] if lines else f"exit {done.returncode}") if done.returncode else ""


def check_wheels(timeout_s: float = 180.0) -> list[dict]:
    """One dict per requirement: ok, the tag set that worked, the wheel file."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-aarch64-") as tmp:
        for spec in runtime_requirements():
            name = re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]
            target = Path(tmp) / name
            ok, message = _download(spec, [BASE_TAG], target, timeout_s)
            tags = BASE_TAG
            if not ok:
                ok, message = _download(spec, [BASE_TAG, *EXTRA_TAGS], target, timeout_s)
                tags = "+".join([BASE_TAG, *EXTRA_TAGS]) if ok else "none"
            wheels = sorted(p.name for p in target.glob("*.whl")) if target.exists() else []
            rows.append({"requirement": spec, "ok": ok and bool(wheels), "tags": tags,
                         "platform": _wheel_tag(wheels[0]) if wheels else "",
                         "wheel": wheels[0] if wheels else "", "message": message,
                         "pi_version": wheels[0].split("-")[1] if wheels else "", "here_version": _installed(name)})
    return rows


def _installed(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


def _wheel_tag(wheel: str) -> str:
    return wheel[:-4].split("-")[-1]


def run_pi(offline: dict | None, held_streams: int | None, check: bool, machine: str) -> Section:
    section = Section("Raspberry Pi 4 projection")
    command = (f"pip download --only-binary=:all: --platform {BASE_TAG} --python-version 3.11 --no-deps -d TMP REQ "
               f"(retried with {', '.join(EXTRA_TAGS)} when the first fails)")
    if check:
        wheels = check_wheels()
        section.data["wheels"] = wheels
        for w in wheels:
            differs = w["ok"] and w["here_version"] and w["pi_version"] != w["here_version"]
            section.rows.append(Row(f"aarch64 wheel: `{w['requirement']}`",
                                    f"{'yes' if w['ok'] else 'NO'}: {w['wheel'] or w['message']}",
                                    command + f"; found with --platform {w['tags']}",
                                    f"Pi gets {w['pi_version']}, measured here with {w['here_version']}"
                                    if differs else ""))
        missing = [w["requirement"] for w in wheels if not w["ok"]]
        older = [f"{w['requirement'].split('>')[0]} {w['pi_version']} (here {w['here_version']})"
                 for w in wheels if w["ok"] and w["here_version"] and w["pi_version"] != w["here_version"]]
        if older:
            section.notes.append("On the Pi, pip resolves other versions than this machine runs: " + ", ".join(older)
                                 + ". The newest aarch64 wheel for Python 3.11 is what a Pi gets; speed and "
                                 "behaviour of the older runtime are not measured here.")
        section.notes.append("Every runtime requirement has a Python 3.11 aarch64 wheel." if not missing else
                             f"No aarch64 wheel for: {', '.join(missing)}.")
    else:
        section.notes.append("The aarch64 wheel check was skipped (--quick, or --no-pi-wheels); the full run does it.")
    rows = (offline or {}).get("results", [])
    default = next((r for r in rows if r["threads"] == 1 and r["system"] == "default"), None) or \
        next((r for r in rows if r["threads"] == 1), None)
    peer = (offline or {}).get("peer")
    if default:
        rtf = default["rtf_wall"]
        section.rows.append(Row(
            f"expected Pi 4 RTF, `{default['system']}` variant, 1 thread",
            f"{fmt(rtf * SLOWDOWN, 3)} (range {fmt(rtf * SLOWDOWN_LOW, 3)}–{fmt(rtf * SLOWDOWN_HIGH, 3)})",
            f"measured RTF {fmt(rtf, 4)} here ({machine}) × {SLOWDOWN:g} (range {SLOWDOWN_LOW:g}–{SLOWDOWN_HIGH:g})"))
        if peer:
            section.rows.append(Row("expected Pi 4 RTF, pocketsphinx, 1 thread",
                                    f"{fmt(peer['rtf_wall'] * SLOWDOWN, 3)}", "same assumption",
                                    f"ours is {rtf / peer['rtf_wall']:.2f}× the peer's time on either machine"))
        streams = PI_CORES * 0.7 / (rtf * SLOWDOWN)
        section.rows.append(Row("expected real-time streams on a Pi 4 (CPU bound)",
                                f"≈ {streams:.0f} (4 cores at 70% busy ÷ projected RTF per stream)",
                                "projection from the offline RTF; ignores per-message Python overhead"))
    if held_streams is not None:
        section.rows.append(Row("expected streams on a Pi 4, from the concurrency ramp",
                                f"≈ {held_streams * PI_CORES / 2 / SLOWDOWN:.1f}",
                                f"{held_streams} streams held on 2 cores here × {PI_CORES}/2 cores ÷ {SLOWDOWN:g}"))
    section.notes.append(
        f"Assumption: one Pi 4 core (Cortex-A72 at 1.5 GHz, 64-bit OS, the same ai-edge-litert/XNNPACK kernels) "
        f"does this work {SLOWDOWN:g}× slower than one core of this machine (range {SLOWDOWN_LOW:g}–"
        f"{SLOWDOWN_HIGH:g}×). That is the ratio of typical single-core scores (Geekbench 5: Pi 4 ≈ 250–300, a "
        "current x86 server core ≈ 1000–1500) widened for the A72's weaker SIMD and memory bandwidth; it is not "
        "measured here. A Pi without a heatsink throttles to 1.0 GHz or less, which is the top of the range. "
        "The number to check on a real Pi: `python -m bench.offline --models-dir models --data DATA "
        "--variant default --threads 1 --seconds 60`.")
    section.data.update({"slowdown": SLOWDOWN, "range": [SLOWDOWN_LOW, SLOWDOWN_HIGH]})
    return section
