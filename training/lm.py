"""A word n-gram language model (interpolated Kneser-Ney, any order), written as ARPA for KenLM.

Trained on the shared LJSpeech sentences minus the tuning slice (``speech/dev``
ids are already absent from that file). The vocabulary is the corpus words
plus, optionally, the CMU dictionary's words at a small uniform share of the
unigram mass, so common words the corpus lacks can still be recognised.

The order is a trade between context and size: over the shared text the ARPA
file is 8 MB as a trigram, 16 MB as a 4-gram (the LM stage's default,
``--lm-order``) and 24 MB as a 5-gram, and every file ships in ``models/``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
GENERAL_WORDS = 20000  # everyday words the decoder's lexicon knows, and the only ones the voices' walks use


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.75


def general_english_words(top: int) -> dict[str, float]:
    """The ``top`` most probable CMU-dictionary words under the pocketsphinx wheel's en-us LM.

    Both ship in the pocketsphinx wheel: the dictionary says which words exist,
    the general-English trigram's unigram scores say which are common. Only that
    ranking is used, to pick the everyday words the lexicon should know.
    """
    import pocketsphinx
    from pocketsphinx import NGramModel

    root = Path(pocketsphinx.__file__).parent / "model" / "en-us"
    model = NGramModel.readfile(str(root / "en-us.lm.bin"))
    words = set()
    for line in (root / "cmudict-en-us.dict").read_text(encoding="latin-1").splitlines():
        word = re.sub(r"\(\d+\)$", "", line.split(" ", 1)[0].lower())
        if re.fullmatch(r"[a-z]+('[a-z]+)?", word):
            words.add(word)
    scored = sorted(((model.prob([w]), w) for w in words), reverse=True)[:top]
    return {w: math.exp(score * math.log(1.0001)) for score, w in scored}  # sphinx log base is 1.0001


def ngram_counts(sentences: list[str], order: int) -> list[Counter]:
    """Kneser-Ney counts per order: ``counts[k]`` maps ``k``-grams (tuples) to their count.

    The highest order keeps raw counts. A lower-order n-gram counts the distinct
    words seen before it (its continuation count), except one that starts a
    sentence: nothing precedes ``<s>``, so it keeps its raw count.
    """
    counts = [Counter() for _ in range(order + 1)]
    for sentence in sentences:
        tokens = [BOS] + sentence.split() + [EOS]
        for end in range(2, len(tokens) + 1):  # n-grams ending at tokens[end - 1], which is never <s>
            for k in range(1, min(order, end) + 1):
                gram = tuple(tokens[end - k : end])
                if k == order or gram[0] == BOS:  # raw counts; the rest are continuation counts, below
                    counts[k][gram] += 1
    for k in range(order - 1, 0, -1):
        left: Counter = Counter()
        for gram in counts[k + 1]:
            left[gram[1:]] += 1  # each distinct (u, *gram) is one more word seen before gram
        counts[k].update({g: c for g, c in left.items() if g[0] != BOS})
    return counts


def build_arpa(sentences: list[str], out: Path, extra_words: dict[str, float] | None = None,
               extra_share: float = 0.05, order: int = 3) -> dict:
    """Write an interpolated Kneser-Ney ARPA file of ``order``; returns its n-gram counts."""
    probs, backoffs = kneser_ney(sentences, extra_words, extra_share, order)
    write_arpa(out, probs, backoffs)
    return ngram_totals(probs)


def ngram_totals(probs: list[dict]) -> dict:
    """N-grams per order as the card reports them (``<s>`` counts as a unigram, as ARPA lists it)."""
    return {name: len(probs[k]) + (k == 1) for k, name in enumerate(_ORDER_NAMES[:len(probs)]) if k}


def lexicon(sentences: list[str], extra_words: dict[str, float] | None = None) -> set[str]:
    """The words an LM over ``sentences`` knows: theirs, ``extra_words``, ``</s>`` and ``<unk>``."""
    return {w for sentence in sentences for w in sentence.split()} | set(extra_words or {}) | {EOS, UNK}


def kneser_ney(sentences: list[str], extra_words: dict[str, float] | None = None,
               extra_share: float = 0.05, order: int = 3) -> tuple[list[dict], list[dict]]:
    """Interpolated Kneser-Ney of ``order`` as ``(probs, backoffs)``: ``probs[k][gram]``, plain probabilities.

    ``extra_words`` maps general-English words to relative weights; together they
    get ``extra_share`` of the unigram mass, so words the corpus lacks stay possible.
    """
    extra_words = extra_words or {}
    counts = ngram_counts(sentences, order)
    uni = counts[1]
    vocab = lexicon(sentences, extra_words)
    total = sum(uni.values())
    d1 = _discount(uni)
    kn_share = 1.0 - (extra_share if extra_words else 0.0)
    extra_total = sum(extra_words.values()) or 1.0
    probs: list[dict] = [{} for _ in range(order + 1)]
    for w in vocab:
        kn = max(uni.get((w,), 0) - d1, 0) / total
        probs[1][(w,)] = kn_share * (kn + d1 * len(uni) / total / len(vocab))
        probs[1][(w,)] += (1.0 - kn_share) * extra_words.get(w, 0.0) / extra_total
    backoffs: list[dict] = [{} for _ in range(order + 1)]  # backoffs[k]: weight of a k-gram context

    def lower(gram: tuple) -> float:
        """P(gram[-1] | gram[:-1]) as an ARPA reader computes it (backing off where unlisted)."""
        if gram in probs[len(gram)]:
            return probs[len(gram)][gram]
        return backoffs[len(gram) - 1].get(gram[:-1], 1.0) * lower(gram[1:])

    for k in range(2, order + 1):
        discount = _discount(counts[k])
        history: Counter = Counter()
        types: Counter = Counter()
        for gram, c in counts[k].items():
            history[gram[:-1]] += c
            types[gram[:-1]] += 1
        for context in history:
            backoffs[k - 1][context] = discount * types[context] / history[context]
        for gram, c in counts[k].items():
            context = gram[:-1]
            probs[k][gram] = max(c - discount, 0) / history[context] + backoffs[k - 1][context] * lower(gram[1:])
    # ARPA keeps a backoff weight only on a listed n-gram (<s> is listed as a unigram of its own).
    for k in range(2, order):
        backoffs[k] = {g: b for g, b in backoffs[k].items() if g in probs[k]}
    return probs, backoffs


_ORDER_NAMES = ("", "unigrams", "bigrams", "trigrams", "4-grams", "5-grams", "6-grams")


def write_arpa(out: Path, probs: list[dict], backoffs: list[dict]) -> None:
    """``probs[k][gram]`` and ``backoffs[k][gram]`` (plain probabilities, not logs) as an ARPA file."""
    log = math.log10
    order = len(probs) - 1
    with open(out, "w", encoding="utf-8") as f:
        f.write("\\data\\\n")
        for k in range(1, order + 1):
            f.write(f"ngram {k}={len(probs[k]) + (k == 1)}\n")
        for k in range(1, order + 1):
            f.write(f"\n\\{k}-grams:\n")
            if k == 1:
                f.write(f"-99\t{BOS}\t{log(backoffs[1].get((BOS,), 1.0)):.5f}\n")
            for gram, p in sorted(probs[k].items()):
                bow = f"\t{log(backoffs[k][gram]):.5f}" if k < order and gram in backoffs[k] else ""
                f.write(f"{log(p):.5f}\t{' '.join(gram)}{bow}\n")
        f.write("\n\\end\\\n")


def read_arpa(path: Path, max_order: int | None = None, keep: set[str] | None = None) -> tuple[list[dict], list[dict]]:
    """An ARPA file back as ``(probs, backoffs)`` in ``write_arpa``'s form, up to ``max_order``.

    Only n-grams whose words are all in ``keep`` (when given) are read. A last
    line without its newline (a writer that died mid-file) is skipped, not trusted.
    """
    probs: list[dict] = [{}]
    backoffs: list[dict] = [{}]
    order = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("\\") and line.rstrip().endswith("-grams:"):
                order = int(line[1:line.index("-")])
                if max_order is not None and order > max_order:
                    break
                probs.append({})
                backoffs.append({})
                continue
            fields = line.split()  # any white space: pocketsphinx separates a gram's words by tabs
            if order == 0 or len(fields) < 1 + order or not line.endswith("\n"):
                continue
            gram = tuple(fields[1:1 + order])
            if keep is not None and any(w not in keep for w in gram):
                continue
            try:
                logp = float(fields[0])
                bow = float(fields[1 + order]) if len(fields) > 1 + order else None
            except ValueError:
                continue
            if gram != (BOS,):
                probs[order][gram] = 10.0 ** logp
            if bow is not None:
                backoffs[order][gram] = 10.0 ** bow
    backoffs[-1] = {}  # a model cut at max_order backs off from nothing above it
    return probs, backoffs
