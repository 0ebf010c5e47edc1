"""``python -m bench --quick`` still runs end to end: real server, real clients, a complete report.

A smoke test only: it checks that every section ran and the report has its
parts, never how fast anything was (timings on a shared CI machine mean
nothing, and the targets are judged by the full run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SECTIONS = ["## Targets", "## Offline speed", "## Streaming latency", "## Concurrency", "## Memory",
            "## Raspberry Pi 4 projection"]


def test_bench_quick_writes_full_report(models_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    if not (models_dir / "model.json").is_file():
        pytest.skip(f"no model in {models_dir} (set TRANSCRIBER_TEST_MODELS_DIR)")
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "-m", "bench", "--quick", "--models-dir", str(models_dir),
                           "--data", str(shared_data), "--out", str(out), "--no-pi-wheels"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = (out / "RESULTS.md").read_text()
    for heading in SECTIONS:
        assert heading in report, heading
    assert "This section failed" not in report, report
    assert "How measured" in report
    results = json.loads((out / "results.json").read_text())
    assert set(results["sections"]) == {"offline", "streaming", "concurrency", "memory", "pi"}
    assert all(s["error"] is None for s in results["sections"].values())
    assert results["sections"]["memory"]["data"]["done"], "the long stream must end with done"
    assert results["sections"]["concurrency"]["data"]["levels"], "at least one concurrency level ran"
    assert (out / "offline_rtf.png").is_file() and (out / "memory_long_stream.png").is_file()
