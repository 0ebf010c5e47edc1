"""Feature shards across sessions: a later adapt cycle renders only its range, and the data card adds up."""

from __future__ import annotations

import argparse
import json

import pytest

from dsp.features import FeatureConfig
from training import natural_range, render
from training.render import SHARD_SIZE, merge_data_cards, render_shards, with_shards, without_shards
from training.stages import _saved_or_extended, _skipped_tts_shards

pytest.importorskip("tqdm", reason="training requirements (training/requirements.txt) not installed")


def _noise_items(count: int) -> list[dict]:
    return [{"id": f"noise/{i:05d}", "kind": "noise", "text": ""} for i in range(count)]


def test_a_range_renders_only_its_shards_and_the_rest_fill_in_under_the_same_names(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "SHARD_SIZE", 2)
    items = _noise_items(6)
    later = render_shards(items, tmp_path, FeatureConfig(), workers=1, first_item=4)
    assert sorted(p.name for p in tmp_path.glob("shard-*.npz")) == ["shard-0002.npz"]
    assert later["utterances"] == 2
    before = (tmp_path / "shard-0002.npz").stat().st_mtime_ns
    whole = render_shards(items, tmp_path, FeatureConfig(), workers=1)
    assert whole["utterances"] == 6 and whole["by_kind"] == {"noise": 6}
    assert (tmp_path / "shard-0002.npz").stat().st_mtime_ns == before  # kept, not rendered again


def test_skipped_shards_keep_their_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "SHARD_SIZE", 2)
    card = render_shards(_noise_items(6), tmp_path, FeatureConfig(), workers=1, skip=frozenset({1}))
    assert sorted(p.name for p in tmp_path.glob("shard-*.npz")) == ["shard-0000.npz", "shard-0002.npz"]
    assert card["utterances"] == 4


def test_only_whole_shards_of_synthetic_prompts_past_the_kept_ones_are_skipped():
    """``--tts-shards``: FSDD, noise, and a shard that mixes prompts with recordings are always rendered."""
    items = ([{"id": f"tts/{i:06d}", "kind": "tts"} for i in range(3 * SHARD_SIZE + 10)]
             + [{"id": f"fsdd/{i}", "kind": "fsdd"} for i in range(2 * SHARD_SIZE)])
    assert _skipped_tts_shards(items, 1) == {1, 2}
    assert _skipped_tts_shards(items, 3) == frozenset()
    assert _skipped_tts_shards(items, None) == frozenset()


def test_a_saved_list_long_enough_is_kept_without_drawing_the_list_again(tmp_path):
    item_file = tmp_path / "items.json"
    items = _noise_items(6)
    assert _saved_or_extended(item_file, 4, lambda: items[:4]) == items[:4]

    def refuse() -> list[dict]:
        raise AssertionError("the saved list already holds the items asked for")

    assert _saved_or_extended(item_file, 3, refuse) == items[:4]
    assert _saved_or_extended(item_file, 6, lambda: items) == items  # a longer draw with the saved prefix extends it
    other = [{**item, "text": "else"} for item in _noise_items(8)]
    assert _saved_or_extended(item_file, 8, lambda: other) == items  # not an extension: the saved list stays
    assert json.loads(item_file.read_text()) == items


def test_cards_of_two_sessions_merge_by_shard(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "SHARD_SIZE", 2)
    items = _noise_items(6)
    first = render_shards(items[:4], tmp_path / "a", FeatureConfig(), workers=1)
    second = render_shards(items, tmp_path / "b", FeatureConfig(), workers=1, first_item=2)
    merged = merge_data_cards({"engines": ["espeak"], "train": first}, {"train": second})
    assert merged["engines"] == ["espeak"]
    assert merged["train"]["utterances"] == 6  # shard 1 is in both and counted once
    assert sorted(merged["train"]["shards"]) == ["shard-0000.npz", "shard-0001.npz", "shard-0002.npz"]
    assert merged["train"]["shards"]["shard-0002.npz"] == second["shards"]["shard-0002.npz"]
    assert merged["train"]["augmentation_counts"] == {"noise_only": 6}


def test_per_shard_counts_split_off_the_card_and_join_back(tmp_path, monkeypatch):
    monkeypatch.setattr(render, "SHARD_SIZE", 2)
    card = {"engines": ["espeak"], "train": render_shards(_noise_items(4), tmp_path, FeatureConfig(), workers=1)}
    totals, shards = without_shards(card)
    assert "shards" not in totals["train"] and totals["train"]["utterances"] == 4
    assert sorted(shards["train"]) == ["shard-0000.npz", "shard-0001.npz"]
    assert with_shards(totals, shards) == card


@pytest.mark.parametrize("text, expected", [("5000", (0, 5000)), ("5000:7500", (5000, 7500)), (":8", (0, 8))])
def test_natural_ranges_read_as_counts_or_start_end(text, expected):
    assert natural_range(text) == expected


@pytest.mark.parametrize("text", ["7500:5000", "0", "-1:4"])
def test_empty_or_backward_natural_ranges_are_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        natural_range(text)
