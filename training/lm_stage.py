"""LM stage: build ``models/lm.arpa`` (a word n-gram); tune the beam's LM weight, word bonus, blank penalty, width.

Tuning uses a held-out tuning slice (synthetic sentences never trained on, in the natural voices),
decoded with the served TFLite default variant; ``speech/dev`` is never
touched here. The chosen settings go into the model card's ``decoder``.
"""

from __future__ import annotations

import itertools
import json
import time
from argparse import Namespace
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from models.decoder import greedy_decode, penalize_blank
from models.lm_decoder import BeamSettings, LexiconBeamDecoder
from models.engine import ModelCard
from models.recognizer import padded_utterance
from models.registry import ModelRegistry
from training.corpus import BASE_DIGIT_SHARE, NATURAL_TUNE_SPLIT, digit_string, load_sentences
from training.lm import GENERAL_WORDS, general_english_words, kneser_ney, lexicon, ngram_totals, write_arpa
from training.lm_mix import Model, general_english_bigrams, mix
from training.render import load_shards
from training.wer import corpus_wer

LM_FILE = "lm.arpa"
LM_WEIGHTS = (0.6, 1.0, 1.5, 2.0, 2.5, 3.0)
WORD_SCORES = (-4.0, -3.0, -2.0, -1.0, 0.0, 1.0)
BEAM_SIZES = (32, 64, 128, 256, 512, 1024)
# Characters each frame may extend a hypothesis with. Past the few likeliest the rest almost never
# survive the LM, so fewer tokens buy a wider beam at the same cost (tuning slice, cycle-4 model:
# width 512 keeping 4 tokens beat 256 keeping 12 on WER and on CPU time).
BEAM_TOKENS = (4, 6, 12)
# CPU seconds of beam search per second of audio, one thread. The whole path must stay under a quarter
# of pocketsphinx's (about 0.05 here), and the search holds the GIL, so concurrent streams' finals queue
# behind each other: `python -m bench` held 24 real-time streams on 2 cores at 0.0025 and 8-10 at
# 0.013-0.019 (its target is 8). 0.02 keeps both.
BEAM_RTF_BUDGET = 0.02


def _general_words() -> dict[str, float]:
    try:
        return general_english_words(GENERAL_WORDS)
    except ImportError:
        print("[lm] pocketsphinx not installed: lexicon limited to the corpus words")
        return {}


def lm_sentences(shared: Path, seed: int = 0, digit_share: float = BASE_DIGIT_SHARE) -> list[str]:
    """The book LM's text: the training sentences plus digit strings (by default at the base prompts' share).

    Without the digit strings a lone "nine" or "four" is, to the LM, a rare
    word at the start and end of a sentence, and the beam hears "no" or nothing.
    """
    sentences, _ = load_sentences(shared)
    rng = np.random.default_rng([seed, 11])
    count = round(len(sentences) * digit_share / (1 - digit_share))
    return sentences + [digit_string(rng) for _ in range(count)]


def tuning_slice(work_dir: Path) -> tuple[str, str]:
    """The slice the decoder is tuned on (a features/ folder) and how the card describes it.

    The natural voices' slice when the data stage rendered it: the model
    trained mostly on the base voices, so that slice is the nearer stand-in
    for real speech, on which the acoustic model is far less sure.
    """
    if any((work_dir / "features" / NATURAL_TUNE_SPLIT).glob("shard-*.npz")):
        return NATURAL_TUNE_SPLIT, "held-out natural-voice tuning utterances (Kokoro, festival, flite; augmented)"
    return "tune", "held-out synthetic tuning utterances (espeak-ng, flite)"


def greedy_wer(adjusted: list[np.ndarray], references: list[str], vocabulary: list[str]) -> float:
    """WER of the greedy text of blank-penalised logits: what the partials show."""
    return corpus_wer(references, [greedy_decode(l, vocabulary) for l in adjusted])


def tune(decoder: LexiconBeamDecoder, logits: list[np.ndarray], references: list[str], vocabulary: list[str],
         blank_penalties: list[float]) -> dict:
    """Grid search; the greedy rows (one per blank penalty) are kept for the report."""
    rows = []
    for penalty in blank_penalties:
        adjusted = [penalize_blank(l, penalty) for l in logits]
        rows.append({"lm_weight": 0.0, "word_score": 0.0, "blank_penalty": penalty, "decoder": "greedy",
                     "wer": greedy_wer(adjusted, references, vocabulary)})
        for lm_weight, word_score in tqdm(list(itertools.product(LM_WEIGHTS, WORD_SCORES)), desc=f"lm/tune {penalty}"):
            decoder.retune(BeamSettings(lm_weight=lm_weight, word_score=word_score))
            wer = corpus_wer(references, [decoder.decode(l) for l in adjusted])
            rows.append({"lm_weight": lm_weight, "word_score": word_score, "blank_penalty": penalty, "wer": wer,
                         "decoder": "beam"})
    beam_rows = [r for r in rows if r["decoder"] == "beam"]
    return {"grid": rows, "best": min(beam_rows, key=lambda r: r["wer"])}


def _decode_all(decoder: LexiconBeamDecoder, settings: BeamSettings, adjusted: list[np.ndarray],
                references: list[str]) -> tuple[float, float]:
    """(WER, CPU seconds) of one decode of the slice with ``settings``."""
    decoder.retune(settings)
    started = time.process_time()
    hypotheses = [decoder.decode(l) for l in adjusted]
    return corpus_wer(references, hypotheses), time.process_time() - started


def widen(decoder: LexiconBeamDecoder, logits: list[np.ndarray], references: list[str], audio_seconds: float,
          best: dict) -> dict:
    """The beam for finals: the most accurate width and token count on the tuning slice within ``BEAM_RTF_BUDGET``.

    The grid runs at the narrowest beam because it decodes the slice 108
    times; a wider beam keeps word sequences the narrow one pruned before the
    LM could favour them, which on the tuning slice bought more than any LM
    setting (WER 0.371 at 32, 0.318 at 128, cycle-3 model). Keeping fewer
    tokens per frame pays for width. The LM weight and word bonus are then
    retuned around the grid's best with the chosen beam, since a wider beam
    can afford a heavier LM.
    """
    adjusted = [penalize_blank(l, best["blank_penalty"]) for l in logits]
    sweep = []
    for tokens in BEAM_TOKENS:
        for size in tqdm(BEAM_SIZES, desc=f"lm/width ({tokens} tokens)"):
            settings = BeamSettings(lm_weight=best["lm_weight"], word_score=best["word_score"], beam_size=size,
                                    beam_size_token=tokens)
            wer, seconds = _decode_all(decoder, settings, adjusted, references)
            sweep.append({"beam_size": size, "beam_size_token": tokens, "wer": wer, "rtf": seconds / audio_seconds})
            if sweep[-1]["rtf"] > BEAM_RTF_BUDGET:
                break  # wider ones only cost more
    fitting = [row for row in sweep if row["rtf"] <= BEAM_RTF_BUDGET] or sweep[:1]
    beam = min(fitting, key=lambda row: (row["wer"], row["rtf"]))
    shape = {"beam_size": beam["beam_size"], "beam_size_token": beam["beam_size_token"]}
    around = []
    for lm_weight, word_score in tqdm(list(itertools.product(
            (best["lm_weight"] - 0.5, best["lm_weight"], best["lm_weight"] + 0.5),
            (best["word_score"] - 1.0, best["word_score"], best["word_score"] + 1.0))), desc="lm/retune"):
        if lm_weight <= 0:
            continue
        if (lm_weight, word_score) == (best["lm_weight"], best["word_score"]):
            wer = beam["wer"]
        else:
            settings = BeamSettings(lm_weight=lm_weight, word_score=word_score, **shape)
            wer = _decode_all(decoder, settings, adjusted, references)[0]
        around.append({"lm_weight": lm_weight, "word_score": word_score, "wer": wer})
    chosen = min(around, key=lambda row: row["wer"])
    return {"sweep": sweep, "around": around, "best": dict(best, **chosen, **shape, beam_rtf=beam["rtf"])}


def kept_decoder(card_path: Path) -> dict:
    """The card's beam settings, for ``--keep-decoder``: a rebuild can then reproduce the shipped decoder.

    The shipped settings were tuned after an earlier adapt cycle and measured
    better on real speech than a later synthetic-slice retune (models/ABLATIONS.md);
    tuning again would silently replace them.
    """
    decoder = json.loads(card_path.read_text()).get("decoder", {}) if card_path.exists() else {}
    if decoder.get("type") != "beam":
        raise SystemExit(f"--keep-decoder: {card_path} has no beam decoder settings to keep; "
                         "run the lm stage without it")
    return decoder


@dataclass
class TuningSlice:
    """The held-out slice run through the default variant: what the decoder settings are chosen (or checked) on."""

    name: str
    description: str
    logits: list[np.ndarray]
    texts: list[str]
    audio_seconds: float


def tuning_logits(args: Namespace, registry: ModelRegistry) -> TuningSlice:
    """The slice's logits from the default variant, run once: the grid decodes them a hundred times."""
    slice_name, slice_text = tuning_slice(args.work_dir)
    features, texts, _ = load_shards(args.work_dir / "features" / slice_name)
    card = registry.card
    limit = min(len(features), args.tune_utterances)
    model = registry.get()
    logits = [model.run(padded_utterance(feats, card)) for feats in features[:limit]]
    audio_seconds = sum(len(f) for f in features[:limit]) * card.features.hop_length / card.features.sample_rate
    return TuningSlice(slice_name, f"{limit} {slice_text}", logits, texts[:limit], audio_seconds)


def mixed_lm(args: Namespace, general_share: float, general: Model | None, extra_words: dict[str, float]) -> Model:
    """The book's LM with ``general_share`` of general English mixed in.

    The book's text carries its digit strings at ``BASE_DIGIT_SHARE / (1 -
    general_share)``, so the mixture keeps the base prompts' share of them: the
    general model thinks a lone "four" is "for", and halving the digits' share
    cost the held-out FSDD speaker 7 of 500 words (cycle-15 model).
    """
    book = kneser_ney(lm_sentences(args.shared, args.seed, BASE_DIGIT_SHARE / (1 - general_share)),
                      extra_words, order=args.lm_order)
    if general is None or general_share == 0:
        return book
    vocabulary = {w for (w,) in book[0][1]}
    return mix([book, general], [1 - general_share, general_share], vocabulary)


def choose_mixture(args: Namespace, tuning: TuningSlice, card: ModelCard, settings: dict) -> tuple[float, list[dict]]:
    """Write ``models/lm.arpa`` at the general-English share whose tuning-slice WER is lowest with ``settings``."""
    out = args.models_dir / LM_FILE
    shares = args.general_lm_shares
    extra_words = _general_words()  # read from the wheel once; every share's book LM adds them to its lexicon
    general = None
    if any(shares):
        try:
            vocabulary = lexicon(lm_sentences(args.shared, args.seed), extra_words)
            general = general_english_bigrams(vocabulary, args.general_bigrams)
        except (ImportError, RuntimeError) as error:
            print(f"[lm] no general-English model ({error}): the book's LM alone")
            shares = [0.0]
    adjusted = [penalize_blank(l, settings.get("blank_penalty", 0.0)) for l in tuning.logits]
    rows, best = [], None
    for share in shares:
        model = mixed_lm(args, share, general, extra_words)
        candidate = out.with_suffix(f".{share}.arpa")
        write_arpa(candidate, *model)
        decoder = LexiconBeamDecoder(candidate, card.vocabulary, BeamSettings.from_dict(settings))
        rows.append({"general_share": share, "wer": corpus_wer(tuning.texts, [decoder.decode(l) for l in adjusted]),
                     "ngrams": ngram_totals(model[0])})
        print(f"[lm] general-English share {share}: tuning WER {rows[-1]['wer']:.4f}")
        if best is None or rows[-1]["wer"] < best["wer"]:
            best = rows[-1]
            candidate.replace(out)
        else:
            candidate.unlink()
    return best["general_share"], rows


def kept_decoder_measured(registry: ModelRegistry, tuning: TuningSlice, kept: dict, beam_wer: float) -> dict:
    """The kept settings, plus the tuning slice's WER with them on the model in ``--models-dir``.

    The ``tuning_*`` figures stay those of the model the settings were tuned
    on, several adapt cycles back; the ``checked_*`` ones say how the settings
    do on this model (greedy with the blank penalty, as the partials run).
    ``beam_wer`` is the slice's beam WER with these settings and the chosen
    LM, already measured when the LM's mixture was chosen.
    """
    adjusted = [penalize_blank(l, kept.get("blank_penalty", 0.0)) for l in tuning.logits]
    greedy = greedy_wer(adjusted, tuning.texts, registry.card.vocabulary)
    return dict(kept, checked_greedy_wer=greedy, checked_beam_wer=beam_wer)


def tuned_decoder(args: Namespace, registry: ModelRegistry, tuning: TuningSlice, lm: Path) -> tuple[dict, dict]:
    """(the card's decoder section, the sweep behind it), tuned on the held-out slice with ``lm``."""
    card = registry.card
    logits, texts = tuning.logits, tuning.texts
    decoder = LexiconBeamDecoder(lm, card.vocabulary)
    result = tune(decoder, logits, texts, card.vocabulary, args.blank_penalties)
    result.update(widen(decoder, logits, texts, tuning.audio_seconds, result["best"]))
    best = result["best"]
    section = {"type": "beam", "lm_weight": best["lm_weight"], "word_score": best["word_score"],
               "blank_penalty": best["blank_penalty"],
               **{k: v for k, v in BeamSettings(beam_size=best["beam_size"],
                                                 beam_size_token=best["beam_size_token"]).__dict__.items()
                  if k.startswith("beam")},
               "beam_rtf_on_tuning": round(best["beam_rtf"], 4), "beam_rtf_budget": BEAM_RTF_BUDGET,
               "beam_sweep": [{k: round(v, 4) for k, v in row.items()} for row in result["sweep"]],
               "tuned_on": tuning.description, "tuning_slice": tuning.name,
               "tuning_greedy_wer": result["grid"][0]["wer"], "tuning_beam_wer": best["wer"]}
    return section, result


def lm_text(general_share: float, general_bigrams: int, order: int) -> str:
    """How the model card describes the LM's text."""
    digits = ("as in the base prompts" if general_share == 0
              else f"{BASE_DIGIT_SHARE:.0%} of the mixture, as in the base prompts")
    book = ("shared LJSpeech sentences minus the tuning slice, digit strings "
            f"({BASE_DIGIT_SHARE / (1 - general_share):.0%} of the lines, {digits}), vocabulary extended with the "
            f"{GENERAL_WORDS} most frequent words of pocketsphinx's en-us LM")
    if general_share == 0:
        return book
    return (f"{1 - general_share:g} x a {order}-gram on the {book}, mixed with {general_share:g} x the "
            f"{general_bigrams} most frequent in-lexicon bigrams of pocketsphinx's en-us LM (general English; "
            f"share chosen on the tuning slice)")


def run_lm(args: Namespace) -> dict:
    models_dir: Path = args.models_dir
    card_path = models_dir / "model.json"
    kept = kept_decoder(card_path) if args.keep_decoder else None  # checked before the LM's minutes of work
    registry = ModelRegistry(models_dir)
    tuning = tuning_logits(args, registry)
    # The share is chosen with the kept settings, or with those the card had (a first build: the defaults).
    previous = json.loads(card_path.read_text()).get("decoder", {})
    share, mixture_rows = choose_mixture(args, tuning, registry.card, kept or previous)
    chosen = next(row for row in mixture_rows if row["general_share"] == share)
    if kept is not None:
        section = kept_decoder_measured(registry, tuning, kept, chosen["wer"])
        result = {"best": section}
    else:
        section, result = tuned_decoder(args, registry, tuning, models_dir / LM_FILE)
    section.update(lm=LM_FILE, lm_order=args.lm_order, lm_ngrams=chosen["ngrams"], general_share=share,
                   general_share_sweep=[{"general_share": r["general_share"], "tuning_wer": round(r["wer"], 4)}
                                        for r in mixture_rows],
                   lm_text=lm_text(share, args.general_bigrams, args.lm_order))
    raw = json.loads(card_path.read_text())
    raw["decoder"] = section
    card_path.write_text(json.dumps(raw, indent=2))
    print(json.dumps({k: v for k, v in section.items() if k != "beam_sweep"}, indent=2))
    return result
