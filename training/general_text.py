"""Everyday-English prompts for synthesis, sampled from the pocketsphinx wheel's general-English bigrams.

Every sentence the model has heard comes from one book (the shared LJSpeech
text), so its character model has learned that book's spelling habits as well
as its sounds. No everyday-English text ships here, but the wheel's en-us LM
is a summary of a great deal of it: a walk along its most frequent bigrams
gives sentences that are locally fluent and cover everyday words the book
lacks. They are only for the voices to speak; they never enter the decoder's LM.
"""

from __future__ import annotations

import numpy as np

from training.lm import BOS, EOS, GENERAL_WORDS, general_english_words
from training.lm_mix import general_english_bigrams

GENERAL_BIGRAMS = 500000
MIN_WORDS, MAX_WORDS = 3, 24


def general_sentences(count: int, seed: int = 0) -> list[str]:
    """``count`` sentences walked from the wheel's bigrams, seeded: the same list on every machine."""
    words = set(general_english_words(GENERAL_WORDS))
    probs, _ = general_english_bigrams(words, GENERAL_BIGRAMS)
    followers: dict[str, tuple[list[str], list[float]]] = {}
    for (first, second), p in sorted(probs[2].items()):  # sorted: a seed gives one list whatever the read order
        followers.setdefault(first, ([], []))[0].append(second)
        followers[first][1].append(p)
    chains = {w: (nxt, np.asarray(p) / np.sum(p)) for w, (nxt, p) in followers.items()}
    if BOS not in chains or not any(EOS in nxt for nxt, _ in chains.values()):
        raise RuntimeError("the general-English bigrams hold no sentence starts or ends to walk between")
    rng = np.random.default_rng([seed, 29])
    sentences: list[str] = []
    while len(sentences) < count:
        walk = _walk(chains, rng)
        if MIN_WORDS <= len(walk) <= MAX_WORDS:
            sentences.append(" ".join(walk))
    return sentences


def _walk(chains: dict[str, tuple[list[str], np.ndarray]], rng: np.random.Generator) -> list[str]:
    """One sentence from ``<s>`` to ``</s>``, or cut at a word with no listed follower or past the length cap."""
    words: list[str] = []
    current = BOS
    while current in chains and len(words) <= MAX_WORDS:
        following, p = chains[current]
        current = following[int(rng.choice(len(following), p=p))]
        if current == EOS:
            break
        words.append(current)
    return words
