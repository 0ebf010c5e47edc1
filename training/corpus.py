"""What to say and who says it: the training item list, before any audio exists.

Items are plain dicts (``id``, ``kind``, ``text``, ``voice`` or ``path``) so the
list can be written to JSON, cached and resumed. Sentences whose index is a
multiple of ``TUNE_EVERY`` are held out as a tuning slice (for LM weights):
never trained on, and distinct from ``speech/dev``, which is evaluation only.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from models.text import normalize_transcript
from training.voices import Voice

TUNE_EVERY = 40
HELD_OUT_SPEAKER = "theo"
DIGIT_WORDS = "zero one two three four five six seven eight nine".split()
BASE_DIGIT_SHARE = 0.12  # of the base set's prompts; the language model's text has the same share


def read_tsv(path: Path) -> list[tuple[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [(row[0], row[1]) for row in csv.reader(handle, delimiter="\t") if len(row) >= 2]


def load_sentences(shared: Path) -> tuple[list[str], list[str]]:
    """(training sentences, tuning sentences), normalised, from the shared LJSpeech text."""
    rows = read_tsv(shared / "text" / "ljspeech_sentences.tsv")
    train, tune = [], []
    for index, (_, sentence) in enumerate(rows):
        text = normalize_transcript(sentence)
        if not text or len(text) > 220:
            continue
        (tune if index % TUNE_EVERY == 0 else train).append(text)
    return train, tune


def fsdd_items(shared: Path, held_out: bool) -> list[dict]:
    """FSDD recordings; ``held_out`` picks the evaluation speaker instead of the others."""
    root = shared / "speech" / "train" / "fsdd"
    items = []
    for rel, text in read_tsv(root / "transcripts.tsv"):
        speaker = Path(rel).stem.split("_")[1]
        if (speaker == HELD_OUT_SPEAKER) == held_out:
            items.append({"id": f"fsdd/{Path(rel).stem}", "kind": "fsdd", "path": str(root / rel),
                          "text": normalize_transcript(text)})
    return items


def digit_string(rng: np.random.Generator) -> str:
    """One to seven digit words: a PIN, a phone number's part, a lone digit."""
    return " ".join(rng.choice(DIGIT_WORDS, size=int(rng.integers(1, 8))))


def _prompt(sentences: list[str], rng: np.random.Generator, digits: float, fragments: float) -> str:
    """A digit string, a sentence fragment or a whole sentence, with the given shares."""
    roll = rng.random()
    if roll < digits:
        return digit_string(rng)
    if roll < digits + fragments:
        words = sentences[int(rng.integers(len(sentences)))].split()
        length = int(rng.integers(1, 7))
        start = int(rng.integers(0, max(1, len(words) - length)))
        return " ".join(words[start : start + length])
    return sentences[int(rng.integers(len(sentences)))]


def synthetic_items(sentences: list[str], voices: list[Voice], count: int, rng: np.random.Generator) -> list[dict]:
    """``count`` utterances: whole sentences, sentence fragments and digit strings, voices round-robin."""
    items = []
    order = rng.permutation(len(voices))
    for i in range(count):
        voice = voices[order[i % len(voices)]]
        text = _prompt(sentences, rng, digits=BASE_DIGIT_SHARE, fragments=0.23)
        items.append({"id": f"tts/{i:06d}", "kind": "tts", "voice": voice.id, "text": text})
    return items


# Each era's engine weights hold from its first item on. Items before the last era keep the draws the
# shipped adapt cycles trained on; Piper's native English voice joined with item 9500 (adapt cycle 6).
NATURAL_ERAS = ((0, {"kokoro": 0.6, "festival": 0.2, "flite": 0.2}),
                (9500, {"piper": 0.5, "kokoro": 0.2, "festival": 0.15, "flite": 0.15}))
NATURAL_TUNE_SPLIT = "tune-natural"  # the features/ folder, the data card's split and the item ids' prefix
# From this item on, the natural voices speak everyday English (training/general_text.py) instead of
# the book: every earlier item, and every shipped cycle, kept the book's sentences.
GENERAL_TEXT_FROM = 31000
GENERAL_SENTENCES = 20000


def _natural_prompts(sentences: list[str], voices: list[Voice], count: int, rng: np.random.Generator,
                     digits: float, fragments: float,
                     later: tuple[int, list[str]] | None = None) -> list[tuple[str, str]]:
    """``count`` (voice id, prompt) pairs, engines drawn by the weights of the item's era (:data:`NATURAL_ERAS`).

    ``later``: (first item, sentences) whose prompts come from those sentences
    instead. A prompt takes the same draws whichever list it reads, so the items
    before it are the same with or without it.

    Engines are drawn by weight rather than round-robin over voices, so the
    200 Kokoro style mixes do not drown out, nor get drowned by, the handful of
    festival, flite and Piper voices.
    """
    by_engine = {e: [v for v in voices if v.engine == e] for e in {e for _, w in NATURAL_ERAS for e in w}}
    eras = []
    for first, weights in NATURAL_ERAS:
        engines = [e for e in weights if by_engine[e]]
        p = np.array([weights[e] for e in engines]) / sum(weights[e] for e in engines) if engines else None
        eras.append((first, engines, p))
    if not eras[0][1]:
        print("[data] no Kokoro, Piper, festival or flite voice installed: no natural-voice utterances")
        return []
    pairs = []
    for index in range(count):
        _, engines, p = next(era for era in reversed(eras) if era[0] <= index)
        pool = by_engine[engines[int(rng.choice(len(engines), p=p))]]
        voice = pool[int(rng.integers(len(pool)))]
        source = later[1] if later and index >= later[0] else sentences
        pairs.append((voice.id, _prompt(source, rng, digits=digits, fragments=fragments)))
    return pairs


def natural_items(shared: Path, voices: list[Voice], count: int, copies: int, seed: int = 0) -> list[dict]:
    """The voice-adaptation set: Kokoro, Piper, festival and flite, each spoken once, augmented ``copies`` times.

    More digit strings than the base set: the real held-out digits are a target of their own.
    Items from :data:`GENERAL_TEXT_FROM` on speak everyday English instead of the book.
    """
    sentences, _ = load_sentences(shared)
    later = None
    if count > GENERAL_TEXT_FROM:
        from training.general_text import general_sentences  # reads the pocketsphinx wheel: only when needed

        later = (GENERAL_TEXT_FROM, general_sentences(GENERAL_SENTENCES, seed))
    pairs = _natural_prompts(sentences, voices, count, np.random.default_rng([seed, 7]), digits=0.2,
                             fragments=0.25, later=later)
    return [{"id": f"natural/{i:05d}", "kind": "tts", "voice": voice, "text": text, "copies": copies}
            for i, (voice, text) in enumerate(pairs)]


def natural_tune_items(shared: Path, voices: list[Voice], count: int, seed: int = 0) -> list[dict]:
    """The decoder's tuning slice: held-out sentences in the natural voices, once each, augmented.

    The base voices' slice is the easiest audio the model hears (espeak-ng
    and flite make most of its training set), so settings tuned on it trust
    the acoustic model more than real speech warrants.
    Digit strings and fragments at the base slice's shares.
    """
    _, sentences = load_sentences(shared)
    pairs = _natural_prompts(sentences, voices, count, np.random.default_rng([seed, 13]),
                             digits=BASE_DIGIT_SHARE, fragments=0.23)
    return [{"id": f"{NATURAL_TUNE_SPLIT}/{i:05d}", "kind": "tts", "voice": voice, "text": text}
            for i, (voice, text) in enumerate(pairs)]


def build_item_list(shared: Path, voices: list[Voice], tts_count: int, fsdd_copies: int, noise_count: int,
                    seed: int = 0, tune_count: int = 300) -> dict[str, list[dict]]:
    rng = np.random.default_rng(seed)
    train_sentences, tune_sentences = load_sentences(shared)
    train = synthetic_items(train_sentences, voices, tts_count, rng)
    for copy in range(fsdd_copies):
        train += [dict(item, id=f"{item['id']}#{copy}") for item in fsdd_items(shared, held_out=False)]
    train += [{"id": f"noise/{i:05d}", "kind": "noise", "text": ""} for i in range(noise_count)]
    tune = synthetic_items(tune_sentences, voices, tune_count, np.random.default_rng(seed + 1))
    tune = [dict(item, id=item["id"].replace("tts/", "tune/")) for item in tune]
    return {"train": train, "tune": tune}
