"""A word trigram language model (interpolated Kneser-Ney), written as ARPA for KenLM.

Trained on the shared LJSpeech sentences minus the tuning slice (``speech/dev``
ids are already absent from that file). The vocabulary is the corpus words
plus, optionally, the CMU dictionary's words at a small uniform share of the
unigram mass, so common words the corpus lacks can still be recognised.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from pathlib import Path

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


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


def build_arpa(sentences: list[str], out: Path, extra_words: dict[str, float] | None = None,
               extra_share: float = 0.05) -> dict:
    """Write an interpolated Kneser-Ney trigram ARPA file; returns its n-gram counts.

    ``extra_words`` maps general-English words to relative weights; together they
    get ``extra_share`` of the unigram mass, so words the corpus lacks stay possible.
    """
    extra_words = extra_words or {}
    tri: Counter = Counter()
    for sentence in sentences:
        tokens = [BOS, BOS] + sentence.split() + [EOS]
        for i in range(2, len(tokens)):
            tri[tuple(tokens[i - 2 : i + 1])] += 1
    # Bigram counts: continuation counts (distinct left contexts), raw counts after <s>.
    left_contexts: dict[tuple, set] = defaultdict(set)
    raw_bi: Counter = Counter()
    for (u, v, w), c in tri.items():
        if (u, v) == (BOS, BOS):
            continue
        left_contexts[(v, w)].add(u)
    for (u, v, w), c in tri.items():
        if v == BOS:  # (<s>, <s>, w) gives the sentence-initial bigram (<s>, w)
            raw_bi[(BOS, w)] += c
    bi: Counter = Counter({k: len(s) for k, s in left_contexts.items() if k[0] != BOS})
    bi.update(raw_bi)
    uni_cont: Counter = Counter()
    for (v, w) in bi:
        uni_cont[w] += 1
    vocab = (set(uni_cont) | set(extra_words) | {UNK}) - {BOS}
    total_cont = sum(uni_cont.values())
    d1 = _discount(uni_cont)
    kn_share = 1.0 - (extra_share if extra_words else 0.0)
    extra_total = sum(extra_words.values()) or 1.0
    p1 = {}
    for w in vocab:
        kn = max(uni_cont.get(w, 0) - d1, 0) / total_cont
        p1[w] = kn_share * (kn + d1 * len(uni_cont) / total_cont / len(vocab))
        p1[w] += (1.0 - kn_share) * extra_words.get(w, 0.0) / extra_total
    d2, d3 = _discount(bi), _discount(tri)
    bi_hist: Counter = Counter()
    bi_types: Counter = Counter()
    for (v, w), c in bi.items():
        bi_hist[v] += c
        bi_types[v] += 1
    p2, bow1 = {}, {}
    for (v, w), c in bi.items():
        gamma = d2 * bi_types[v] / bi_hist[v]
        p2[(v, w)] = max(c - d2, 0) / bi_hist[v] + gamma * p1[w]
    for v in bi_hist:
        bow1[v] = d2 * bi_types[v] / bi_hist[v]
    tri_hist: Counter = Counter()
    tri_types: Counter = Counter()
    for (u, v, w), c in tri.items():
        tri_hist[(u, v)] += c
        tri_types[(u, v)] += 1
    p3, bow2 = {}, {}
    for (u, v, w), c in tri.items():
        if (u, v) == (BOS, BOS):
            continue  # the same event as the bigram (<s>, w)
        lower = p2.get((v, w), bow1.get(v, 1.0) * p1[w])
        p3[(u, v, w)] = max(c - d3, 0) / tri_hist[(u, v)] + d3 * tri_types[(u, v)] / tri_hist[(u, v)] * lower
    for (u, v), c in tri_hist.items():
        if (u, v) != (BOS, BOS) and (u, v) in p2:
            bow2[(u, v)] = d3 * tri_types[(u, v)] / c
    _write(out, p1, bow1, p2, bow2, p3)
    return {"unigrams": len(p1) + 1, "bigrams": len(p2), "trigrams": len(p3)}


def _write(out: Path, p1: dict, bow1: dict, p2: dict, bow2: dict, p3: dict) -> None:
    log = math.log10
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"\\data\\\nngram 1={len(p1) + 1}\nngram 2={len(p2)}\nngram 3={len(p3)}\n\n\\1-grams:\n")
        f.write(f"-99\t{BOS}\t{log(bow1.get(BOS, 1.0)):.5f}\n")
        for w in sorted(p1):
            bow = f"\t{log(bow1[w]):.5f}" if w in bow1 else ""
            f.write(f"{log(p1[w]):.5f}\t{w}{bow}\n")
        f.write("\n\\2-grams:\n")
        for (v, w), p in sorted(p2.items()):
            bow = f"\t{log(bow2[(v, w)]):.5f}" if (v, w) in bow2 else ""
            f.write(f"{log(p):.5f}\t{v} {w}{bow}\n")
        f.write("\n\\3-grams:\n")
        for (u, v, w), p in sorted(p3.items()):
            f.write(f"{log(p):.5f}\t{u} {v} {w}\n")
        f.write("\n\\end\\\n")
