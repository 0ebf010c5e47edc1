"""The data stage: item lists, then rendered feature shards with a data card."""

from __future__ import annotations

import json
from argparse import Namespace
from collections.abc import Callable
from pathlib import Path

from dsp.features import FeatureConfig
from training.corpus import NATURAL_TUNE_SPLIT, build_item_list, natural_items, natural_tune_items
from training.render import SHARD_SIZE, render_shards, without_shards
from training.voices import NATURAL_ENGINES, available_voices

BASE_ENGINES = ("espeak", "flite")  # the large pre-training set; natural voices come in the adapt stage


def run_data(args: Namespace) -> dict:
    work: Path = args.work_dir
    voices = available_voices()
    if not voices:
        raise SystemExit("no speech synthesizer found: install espeak-ng and flite (see README)")
    card = {"voices_available": len(voices), "engines": sorted({v.engine for v in voices})}
    base = [v for v in voices if v.engine in BASE_ENGINES]
    splits = build_item_list(args.shared, base, args.tts_utterances, args.fsdd_copies, args.noise_utterances,
                             seed=args.seed, tune_count=args.tune_utterances)
    natural = [v for v in voices if v.engine in NATURAL_ENGINES]
    ranges = _cycle_ranges(args)
    natural_count = max(end for _, end in ranges)
    tuning = [("tune", "items.json", "shard", *_drawn(splits["tune"]), 0),
              (NATURAL_TUNE_SPLIT, "items.json", "shard",
               *_drawn(natural_tune_items(args.shared, natural, args.tune_utterances, seed=args.seed)), 0)]
    training = [("train", "items.json", "shard", *_drawn(splits["train"]), 0),
                ("train", "items-natural.json", "shard-natural", natural_count,
                 lambda: natural_items(args.shared, natural, natural_count, args.natural_copies, seed=args.seed),
                 min(start for start, _ in ranges))]
    lists = tuning if args.tuning_only else [training[0], *tuning, training[1]]
    for split, list_name, prefix, count, build, first_item in lists:
        directory = work / "features" / split
        directory.mkdir(parents=True, exist_ok=True)
        items = _saved_or_extended(directory / list_name, count, build)
        skip = _skipped_tts_shards(items, args.tts_shards) if prefix == "shard" and split == "train" else frozenset()
        card[split] = render_shards(items, directory, FeatureConfig(), seed=args.seed, desc=f"data/{prefix}",
                                    prefix=prefix, first_item=first_item, skip=skip)
    if args.tuning_only:  # the training shards' card stays as the full run wrote it
        saved = work / "data_card.json"
        card = {**(json.loads(saved.read_text()) if saved.exists() else {}), **card}
    (work / "data_card.json").write_text(json.dumps(card, indent=2))
    print(json.dumps(without_shards(card)[0], indent=2))  # the per-shard counts stay in the file
    return card


def _cycle_ranges(args: Namespace) -> list[tuple[int, int]]:
    """The natural ranges to render: every cycle's, or only ``--adapt-cycle``'s when one is named."""
    if args.adapt_cycle:
        return [args.natural_utterances[args.adapt_cycle - 1]]
    return list(args.natural_utterances)


def _skipped_tts_shards(items: list[dict], keep: int | None) -> frozenset[int]:
    """The base list's shards of synthetic prompts past the first ``keep`` (none when ``keep`` is None).

    An adapt cycle keeps only a share of the base prompts (``--adapt-base-share``),
    so a session that renders for one cycle alone can render that many base
    shards and skip the rest; FSDD and noise shards are always rendered.
    """
    if keep is None:
        return frozenset()
    all_tts = [index for index in range(len(items) // SHARD_SIZE)
               if all(item["kind"] == "tts" for item in items[index * SHARD_SIZE:(index + 1) * SHARD_SIZE])]
    return frozenset(all_tts[keep:])


def _drawn(items: list[dict]) -> tuple[int, Callable[[], list[dict]]]:
    """A list already drawn, as the (count, build) pair :func:`_saved_or_extended` takes."""
    return len(items), lambda: items


def _saved_or_extended(item_file: Path, count: int, build: Callable[[], list[dict]]) -> list[dict]:
    """The list a resumed run started with; extended when ``count``, the items asked for, is more than it holds.

    Item lists are drawn item by item from one seeded generator, so a longer
    list starts with the shorter one. Extending keeps the shards already
    rendered valid (a shard holds a fixed slice of the list) and renders only
    the new tail; a list that is not such a prefix is kept as it was.
    ``build`` draws the list only when the saved one is too short: the natural
    list walks the pocketsphinx wheel's bigrams (about 15 s) from item 31000 on.
    """
    if item_file.exists():
        saved = json.loads(item_file.read_text())
        if count <= len(saved):
            return saved
        items = build()
        if items[: len(saved)] != saved:
            return saved
        print(f"[data] {item_file.name}: extending {len(saved)} items to {len(items)}")
    else:
        items = build()
    item_file.write_text(json.dumps(items))
    return items
