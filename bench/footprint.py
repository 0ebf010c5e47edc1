"""Where the server's idle memory goes: RSS added by each import and by the model, in a fresh process.

``python -m bench.footprint --models-dir D`` imports the server's
dependencies one at a time, in the order the server pulls them in, then
builds the registry the server builds (default variant, pool of 4
interpreters, the card's decoder), printing one JSON line. Run apart from the
server so the numbers add up to its idle RSS and point at what to cut.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

import psutil

STEPS = ["numpy", "scipy.signal", "soundfile", "webrtcvad", "ai_edge_litert.interpreter", "flask", "flask_sock",
         "dsp.decode", "models.registry", "server.app"]


def measure(models_dir: Path) -> list[tuple[str, float]]:
    process = psutil.Process()
    rss = lambda: process.memory_info().rss / 1e6  # noqa: E731
    parts = [("python interpreter", rss())]
    for name in STEPS:
        before = rss()
        importlib.import_module(name)
        parts.append((f"import {name}", rss() - before))
    from models.registry import ModelRegistry

    before = rss()
    registry = ModelRegistry(models_dir)
    registry.get()
    registry.beam_decoder()
    parts.append(("default model (4 interpreters) + decoder/LM", rss() - before))
    return parts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.footprint")
    parser.add_argument("--models-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    print("RESULT " + json.dumps(measure(args.models_dir)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
