"""``python -m models.transcribe [--variant NAME] FILE...``: one ``PATH<TAB>TRANSCRIPT`` line per file.

Files that cannot be read get a message on stderr and a non-zero exit status;
the other files are still transcribed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsp.decode import AudioDecodeError, decode_file
from models.engine import ModelLoadError
from models.registry import DEFAULT_MODELS_DIR, ModelRegistry
from models.session import finals_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.transcribe", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--variant", default=None, help="model variant (default: the card's default)")
    parser.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    parser.add_argument("--timestamps", action="store_true", help="also print each segment with its times")
    args = parser.parse_args(argv)
    try:
        registry = ModelRegistry(args.models_dir, args.variant)
        registry.get()
    except (ModelLoadError, KeyError) as exc:
        print(f"error: cannot load model: {exc}", file=sys.stderr)
        return 2
    failures = 0
    for path in args.files:
        try:
            samples = decode_file(path)
        except AudioDecodeError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            failures += 1
            continue
        finals = registry.transcribe(samples)
        print(f"{path}\t{finals_text(finals)}", flush=True)
        if args.timestamps:
            for final in finals:
                print(f"  [{final.start:7.2f} - {final.end:7.2f}] {final.text}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
