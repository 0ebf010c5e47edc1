"""The data stage: item lists, then rendered feature shards with a data card."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

from dsp.features import FeatureConfig
from training.corpus import build_item_list
from training.render import render_shards
from training.voices import available_voices


def run_data(args: Namespace) -> dict:
    work: Path = args.work_dir
    voices = available_voices()
    if not voices:
        raise SystemExit("no speech synthesizer found: install espeak-ng and flite (see README)")
    card = {"voices_available": len(voices), "engines": sorted({v.engine for v in voices})}
    splits = build_item_list(args.shared, voices, args.tts_utterances, args.fsdd_copies, args.noise_utterances,
                             seed=args.seed, tune_count=args.tune_utterances)
    for split, items in splits.items():
        directory = work / "features" / split
        directory.mkdir(parents=True, exist_ok=True)
        item_file = directory / "items.json"
        if not item_file.exists():
            item_file.write_text(json.dumps(items))
        items = json.loads(item_file.read_text())  # the list a resumed run started with
        card[split] = render_shards(items, directory, FeatureConfig(), seed=args.seed, desc=f"data/{split}")
    (work / "data_card.json").write_text(json.dumps(card, indent=2))
    print(json.dumps(card, indent=2))
    return card
