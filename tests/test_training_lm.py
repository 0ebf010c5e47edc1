"""The n-gram builder writes proper ARPA models of any order: every context's distribution sums to one."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.lm import BOS, build_arpa

SENTENCES = ["the cat sat on the mat", "the dog sat on the log", "a cat and a dog", "the cat ran",
             "on the mat the cat sat", "nine four one"]


def read_arpa(path: Path) -> tuple[dict, dict, dict]:
    """(declared counts by order, probabilities, backoff weights), both keyed by word tuples."""
    declared, probs, backoffs, order = {}, {}, {}, 0
    for line in path.read_text().splitlines():
        if line.startswith("ngram "):
            k, n = line[len("ngram "):].split("=")
            declared[int(k)] = int(n)
        elif line.endswith("-grams:"):
            order = int(line[1:].split("-")[0])
        elif order and line and not line.startswith("\\"):
            fields = line.split("\t")
            gram = tuple(fields[1].split())
            assert len(gram) == order, line
            probs[gram] = 10 ** float(fields[0])
            if len(fields) > 2:
                backoffs[gram] = 10 ** float(fields[2])
    return declared, probs, backoffs


def conditional(probs: dict, backoffs: dict, gram: tuple) -> float:
    """P(last word | the others) as KenLM reads an ARPA file."""
    if gram in probs:
        return probs[gram]
    return backoffs.get(gram[:-1], 1.0) * conditional(probs, backoffs, gram[1:])


@pytest.mark.parametrize("order", [2, 3, 4, 5])
def test_every_context_is_a_distribution(tmp_path: Path, order: int) -> None:
    path = tmp_path / "lm.arpa"
    counts = build_arpa(SENTENCES, path, {"zebra": 1.0, "cat": 2.0}, order=order)
    declared, probs, backoffs = read_arpa(path)
    assert sorted(declared) == list(range(1, order + 1))
    assert sum(declared.values()) == sum(counts.values()) == len(probs)
    words = [w for (w,) in (g for g in probs if len(g) == 1) if w != BOS]
    assert {"zebra", "</s>", "<unk>"} <= set(words)
    contexts = {g[:-1] for g in probs if len(g) > 1} | {(BOS, "the", "cat", "sat"), ("zebra", "the"), ()}
    for context in contexts:
        context = context[len(context) - min(len(context), order - 1):]
        total = sum(conditional(probs, backoffs, context + (w,)) for w in words)
        assert total == pytest.approx(1.0, abs=1e-4), context  # five decimals of log10 in the file


def test_longer_context_sharpens_seen_continuations(tmp_path: Path) -> None:
    """After "on the", the corpus only ever says "mat" or "log"; a 4-gram knows which follows "sat on the"."""
    scores = {}
    for order in (2, 4):
        build_arpa(SENTENCES, tmp_path / f"{order}.arpa", order=order)
        _, probs, backoffs = read_arpa(tmp_path / f"{order}.arpa")
        scores[order] = conditional(probs, backoffs, ("cat", "sat", "on", "the", "mat")[-order:])
    assert scores[4] > scores[2]
