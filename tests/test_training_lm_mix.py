"""The book's LM mixed with general English is still a proper backoff model, and it mixes what it says it does."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.lm import BOS, EOS, kneser_ney, read_arpa, write_arpa
from training.lm_mix import conditional, general_english_bigrams, mix, prune_bigrams

BOOK = ["the press printed the book", "the book was printed in venice", "nine four one", "printing the book"]
GENERAL = ["ask not what your country can do for you", "the book is on the table", "what can you do",
           "you can do it", "four for you"]


def _vocabulary(*models) -> set[str]:
    return {w for probs, _ in models for (w,) in probs[1]}


def test_every_context_of_the_mixture_is_a_distribution(tmp_path: Path) -> None:
    book, general = kneser_ney(BOOK, order=4), kneser_ney(GENERAL, order=2)
    vocabulary = _vocabulary(book, general)
    write_arpa(tmp_path / "mix.arpa", *mix([book, general], [0.6, 0.4], vocabulary))
    mixed = read_arpa(tmp_path / "mix.arpa")  # through the file, as KenLM will read it
    words = sorted(vocabulary)
    contexts = {g[:-1] for k in range(2, 5) for g in mixed[0][k]} | {(), ("ask", "not"), (BOS, "the", "book")}
    for context in contexts:
        total = sum(conditional(mixed, context + (w,)) for w in words)
        assert total == pytest.approx(1.0, abs=1e-3), context  # five decimals of log10 in the file


def test_a_listed_ngram_gets_the_weighted_sum_of_both_models() -> None:
    book, general = kneser_ney(BOOK, order=3), kneser_ney(GENERAL, order=2)
    vocabulary = _vocabulary(book, general)
    mixed = mix([book, general], [0.7, 0.3], vocabulary)
    for gram in [("the", "book"), ("can", "do"), (BOS, "nine", "four"), ("your", "country")]:
        expected = 0.7 * conditional(book, gram) + 0.3 * conditional(general, gram)
        assert conditional(mixed, gram) == pytest.approx(expected, rel=1e-9), gram
    # what only general English says is now sayable: the book never put "country" after "your"
    assert conditional(mixed, ("your", "country")) > 10 * conditional(book, ("your", "country"))


def test_pruning_keeps_the_frequent_bigrams_and_stays_normalised() -> None:
    model = kneser_ney(GENERAL * 3 + ["the the"], order=2)
    pruned = prune_bigrams(model, 5)
    assert len(pruned[0][2]) == 5
    kept_pairs = set(pruned[0][2])
    assert ("can", "do") in kept_pairs  # said three times in every copy
    assert (BOS, "the") in kept_pairs  # a sentence start weighs what a sentence end does, not <s>'s -99
    words = [w for (w,) in pruned[0][1]]
    for context in {g[:1] for g in model[0][2]}:
        assert sum(conditional(pruned, context + (w,)) for w in words) == pytest.approx(1.0, abs=1e-9), context


def test_read_arpa_takes_tabs_between_words_and_skips_a_cut_last_line(tmp_path: Path) -> None:
    """pocketsphinx writes a gram's words tab-separated; its writer can die mid-line."""
    path = tmp_path / "cut.arpa"
    path.write_text("\\data\\\nngram 1=3\nngram 2=2\n\n\\1-grams:\n-99\t<s>\t-0.3\n-0.3\tthe\t-0.2\n"
                    "-0.5\tbook\t-0.1\n\\2-grams:\n-0.1\t<s>\tthe\t0.0\n-0.2\tthe\tbo")
    probs, backoffs = read_arpa(path, max_order=2)
    assert probs[1] == {("the",): pytest.approx(10 ** -0.3), ("book",): pytest.approx(10 ** -0.5)}
    assert probs[2] == {(BOS, "the"): pytest.approx(10 ** -0.1)}
    assert backoffs[1][(BOS,)] == pytest.approx(10 ** -0.3) and backoffs[2] == {}


def test_the_pocketsphinx_wheel_gives_general_english_bigrams() -> None:
    pytest.importorskip("pocketsphinx")
    from training.lm import general_english_words

    vocabulary = set(general_english_words(3000))
    general = general_english_bigrams(vocabulary, keep=20000)
    assert len(general[0][2]) == 20000 and {w for (w,) in general[0][1]} <= vocabulary | {EOS}
    assert conditional(general, ("of", "the")) > 10 * conditional(general, ("the", "of"))
    assert conditional(general, ("united", "states")) > 0.1
    assert sum(g[0] == BOS for g in general[0][2]) > 100  # sentence starts survive the pruning
    assert sum(conditional(general, ("your", w)) for w in vocabulary | {EOS}) == pytest.approx(1.0, abs=1e-6)
