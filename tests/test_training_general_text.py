"""Everyday-English prompts: walked from the wheel's bigrams, seeded, and spoken only by the items after the book's."""

from __future__ import annotations

import pytest

pytest.importorskip("pocketsphinx")

from training.corpus import GENERAL_TEXT_FROM, load_sentences, natural_items  # noqa: E402
from training.general_text import MAX_WORDS, MIN_WORDS, general_sentences  # noqa: E402
from training.lm import general_english_words  # noqa: E402
from training.voices import Voice  # noqa: E402


def test_walks_are_seeded_sentences_of_everyday_words_the_book_lacks(shared_data) -> None:
    sentences = general_sentences(400, seed=3)
    assert sentences == general_sentences(400, seed=3)
    assert sentences != general_sentences(400, seed=4)
    everyday = set(general_english_words(20000))
    words = [w for sentence in sentences for w in sentence.split()]
    assert set(words) <= everyday
    assert all(MIN_WORDS <= len(s.split()) <= MAX_WORDS for s in sentences)
    assert len(set(sentences)) > 390 and len(set(words)) > 800
    book_train, book_tune = load_sentences(shared_data)
    book_words = {w for sentence in book_train + book_tune for w in sentence.split()}
    assert len(set(words) - book_words) > 50  # words the voices never spoke from the book


def test_only_items_from_general_text_from_on_speak_everyday_english(shared_data) -> None:
    """The shipped cycles trained on natural items before it: they must come out as they were."""
    voices = [Voice("kokoro", f"mix{i:03d}") for i in range(20)] + [Voice("festival", "kal_diphone"),
                                                                      Voice("flite", "slt"), Voice("piper", "joe")]
    book_only = natural_items(shared_data, voices, GENERAL_TEXT_FROM, copies=3)
    both = natural_items(shared_data, voices, GENERAL_TEXT_FROM + 300, copies=3)
    assert both[:GENERAL_TEXT_FROM] == book_only
    book_train, _ = load_sentences(shared_data)
    book = set(book_train)
    new_sentences = [item["text"] for item in both[GENERAL_TEXT_FROM:] if len(item["text"].split()) >= 8]
    assert new_sentences and not any(text in book for text in new_sentences)
    assert sum(text in book for text in (item["text"] for item in book_only[-300:])) > 100
