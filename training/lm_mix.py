"""The book's LM mixed with general English: static linear interpolation of backoff n-gram models.

The LM built from the shared LJSpeech sentences knows one book's English very
well and everyday English hardly at all ("ask not what your country can do"
is as strange to it as any other sentence it never read). The pocketsphinx
wheel ships a general-English model trained on far more text. Mixing the two
into one ARPA file keeps the decoder as it is (one KenLM file, one lookup per
word) while the search hears both.

The mix is the classic static interpolation: every n-gram either model lists
gets ``sum_i weight_i * P_i(w | h)`` (each model backing off as an ARPA reader
would where it does not list that n-gram), and every context gets the backoff
weight that makes its distribution sum to one again over the kept vocabulary.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from training.lm import BOS, EOS, read_arpa

Model = tuple[list[dict], list[dict]]  # (probs[k][gram], backoffs[k][gram]) as training.lm builds them


def conditional(model: Model, gram: tuple) -> float:
    """P(gram[-1] | gram[:-1]) under ``model``, backing off where the n-gram is not listed."""
    probs, backoffs = model
    k = len(gram)
    if k < len(probs) and gram in probs[k]:
        return probs[k][gram]
    if k == 1:
        return 0.0
    bow = backoffs[k - 1].get(gram[:-1], 1.0) if k - 1 < len(backoffs) else 1.0
    return bow * conditional(model, gram[1:])


def mix(models: list[Model], weights: list[float], vocabulary: set[str]) -> Model:
    """One backoff model over ``vocabulary`` whose every probability is the weighted sum of the models'."""
    order = max(len(probs) - 1 for probs, _ in models)
    allowed = vocabulary | {BOS}

    def kept(gram: tuple) -> bool:
        return all(w in allowed for w in gram) and BOS not in gram[1:] and gram != (BOS,)

    probs: list[dict] = [{} for _ in range(order + 1)]
    for k in range(1, order + 1):
        if k == 1:  # every word of the vocabulary, listed or not in a model
            grams = {(w,) for w in vocabulary if w != BOS}
        else:
            grams = {g for p, _ in models if k < len(p) for g in p[k] if kept(g)}
        for gram in grams:
            probs[k][gram] = sum(wt * conditional(m, gram) for m, wt in zip(models, weights))
    unigram_total = sum(probs[1].values())  # the general model's words outside the vocabulary are gone
    probs[1] = {g: p / unigram_total for g, p in probs[1].items()}

    backoffs: list[dict] = [{} for _ in range(order + 1)]
    mixed = (probs, backoffs)
    for k in range(2, order + 1):  # contexts of order k - 1, from the bottom up: each needs the level below
        seen: dict[tuple, float] = {}
        lower: dict[tuple, float] = {}
        for gram, p in probs[k].items():
            context = gram[:-1]
            seen[context] = seen.get(context, 0.0) + p
            lower[context] = lower.get(context, 0.0) + conditional(mixed, gram[1:])
        for context, listed in seen.items():
            left, left_lower = max(1.0 - listed, 1e-9), max(1.0 - lower[context], 1e-9)
            backoffs[k - 1][context] = left / left_lower
    return mixed


def prune_bigrams(model: Model, keep: int) -> Model:
    """``model`` with only its ``keep`` most frequent bigrams (by joint probability), renormalised.

    Frequency is the simplest pruning that keeps what the decoder meets most
    (count cut-offs do the same when counts are at hand); every context's
    backoff weight is recomputed so its distribution still sums to one.
    """
    probs, _ = model
    unigrams = probs[1]
    # <s> has no unigram probability of its own (ARPA lists it at -99), but a sentence
    # starts as often as one ends: its context weighs what </s> does.
    weight = {**unigrams, (BOS,): unigrams.get((EOS,), 0.0)}
    ranked = sorted(probs[2], key=lambda g: weight.get(g[:1], 0.0) * probs[2][g], reverse=True)[:keep]
    bigrams = {g: probs[2][g] for g in ranked}
    listed: dict[tuple, float] = {}
    lower: dict[tuple, float] = {}
    for gram, p in bigrams.items():
        listed[gram[:1]] = listed.get(gram[:1], 0.0) + p
        lower[gram[:1]] = lower.get(gram[:1], 0.0) + unigrams.get(gram[1:], 0.0)
    total = sum(unigrams.values())
    backoffs = {c: max(1.0 - listed[c], 1e-9) / max(1.0 - lower[c] / total, 1e-9) for c in listed}
    return [{}, {g: p / total for g, p in unigrams.items()}, bigrams], [{}, backoffs, {}]


def general_english_bigrams(vocabulary: set[str], keep: int) -> Model:
    """The pocketsphinx wheel's en-us model as its ``keep`` most frequent bigrams over ``vocabulary``.

    The wheel's ARPA writer (pocketsphinx 5) crashes once its bigram section is
    written, so it runs in a child process and only its finished lines are
    read. A bigram model cut from a trigram one is itself a valid model: the
    listed bigram probabilities do not depend on the trigrams.
    """
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "en-us.arpa"
        script = (
            "import sys, pocketsphinx as ps\n"
            "from pathlib import Path\n"
            "root = Path(ps.__file__).parent / 'model' / 'en-us'\n"
            "config, logmath = ps.Config(), ps.LogMath()  # held: the model does not keep them alive\n"
            "m = ps.NGramModel(config, logmath, str(root / 'en-us.lm.bin'))\n"
            "m.write(sys.argv[1], ps.NGramModel.str_to_type('arpa'))\n"
        )
        subprocess.run([sys.executable, "-c", script, str(arpa)], capture_output=True)
        model = read_arpa(arpa, max_order=2, keep=vocabulary | {BOS, EOS})  # sentence ends belong to any model
    if len(model[0]) < 3 or not model[0][2]:
        raise RuntimeError("could not read the general-English bigrams from the pocketsphinx wheel")
    return prune_bigrams(model, keep)
