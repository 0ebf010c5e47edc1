"""The adapt cycles' training mix: what the defaults select is what the shipped model trained on.

A clean ``python -m training all`` renders every base shard, while the
shipped cycles 6 on were trained from caches that held only some of them;
these tests pin that the defaults still pick the same utterances.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("keras", reason="training requirements (training/requirements.txt) not installed")

from training.__main__ import build_parser  # noqa: E402
from training.train import adapt_mix  # noqa: E402

CARD = json.loads((Path(__file__).parents[1] / "models" / "model.json").read_text())


def _training_ids(by_kind: dict[str, int], natural: tuple[int, int], natural_copies: int) -> list[str]:
    """Item ids in the order the adapt stage loads the shards: base, FSDD, noise, then natural."""
    ids = [f"tts/{i:06d}" for i in range(by_kind["tts"])]
    ids += [f"fsdd/{i}" for i in range(by_kind["fsdd"])] + [f"noise/{i:05d}" for i in range(by_kind["noise"])]
    for item in range(natural[0], natural[1]):
        ids += [f"natural/{item:05d}"] + [f"natural/{item:05d}#{copy}" for copy in range(1, natural_copies)]
    return ids


@pytest.mark.parametrize("cycle", [int(name[5:]) for name in CARD if name.startswith("adapt") and name[5:]
                                   and "utterances" in CARD[name]])
def test_default_mix_has_as_many_utterances_as_the_shipped_cycle(cycle: int) -> None:
    args = build_parser().parse_args(["adapt"])
    by_kind = CARD["data"]["train"]["by_kind"]
    natural = args.natural_utterances[cycle - 1]
    ids = _training_ids(by_kind, natural, args.natural_copies)
    kept = adapt_mix(ids, args, cycle, by_kind["tts"])
    fsdd_repeats = args.adapt_fsdd_repeats[min(cycle, len(args.adapt_fsdd_repeats)) - 1]  # the last carries on
    utterances = len(kept) + (fsdd_repeats - 1) * by_kind["fsdd"]
    assert utterances == CARD[f"adapt{cycle}"]["utterances"]


def test_a_cache_of_only_the_kept_shards_gives_the_same_mix() -> None:
    args = build_parser().parse_args(["adapt"])
    cycle = 15  # draws from the first 12 base shards
    every_shard = _training_ids({"tts": 20000, "fsdd": 10, "noise": 2}, (25000, 25010), 3)
    first_twelve = [i for i in every_shard if not i.startswith("tts/") or int(i[4:]) < 6000]
    picked = [every_shard[i] for i in adapt_mix(every_shard, args, cycle, 20000)]
    assert picked == [first_twelve[i] for i in adapt_mix(first_twelve, args, cycle, 20000)]
    assert max(int(i[4:]) for i in picked if i.startswith("tts/")) < 6000
    assert len([i for i in picked if i.startswith("tts/")]) == pytest.approx(0.3 * 6000, rel=0.05)


def test_a_cache_missing_the_cycles_base_shards_is_refused() -> None:
    args = build_parser().parse_args(["adapt"])
    twelve_shards = _training_ids({"tts": 6000, "fsdd": 10, "noise": 2}, (9500, 9510), 3)
    with pytest.raises(SystemExit, match="--tts-shards 20"):
        adapt_mix(twelve_shards, args, 6, 20000)  # cycles 6 and 7 drew from the first 20


def test_a_base_set_smaller_than_the_shards_named_is_used_whole() -> None:
    """The smoke test's 24 base prompts are fewer than any cycle's shards: nothing is refused or left out."""
    args = build_parser().parse_args(["adapt"])
    ids = _training_ids({"tts": 24, "fsdd": 3, "noise": 1}, (25000, 25002), 3)
    kept = [ids[i] for i in adapt_mix(ids, args, 15, 24)]
    assert [i for i in kept if not i.startswith("tts/")] == ids[24:]
    assert 0 < len([i for i in kept if i.startswith("tts/")]) < 24
