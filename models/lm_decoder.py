"""CTC beam search with a word lexicon and a KenLM n-gram (flashlight-text).

Used for each segment's final text; partials stay greedy, which is cheap and
instant. The lexicon is the LM's own vocabulary spelled in characters, so the
beam can only produce words the LM knows. flashlight-text ships wheels for
x86-64 and aarch64 with KenLM built in; when it is missing, callers fall back
to greedy decoding.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from flashlight.lib.text.decoder import (
        CriterionType,
        LexiconDecoder,
        LexiconDecoderOptions,
        SmearingMode,
        Trie,
    )
    from flashlight.lib.text.dictionary import Dictionary

    try:
        from flashlight.lib.text.decoder.kenlm import KenLM
    except ImportError:  # older wheels
        from flashlight.lib.text.decoder import KenLM

    HAVE_FLASHLIGHT = True
except ImportError:  # pragma: no cover - exercised only where the wheel is missing
    HAVE_FLASHLIGHT = False

SPECIAL_WORDS = {"<s>", "</s>", "<unk>"}


@dataclass(frozen=True)
class BeamSettings:
    lm_weight: float = 0.8
    word_score: float = 1.0
    beam_size: int = 32
    beam_size_token: int = 12
    beam_threshold: float = 20.0

    @classmethod
    def from_dict(cls, values: dict) -> "BeamSettings":
        return cls(**{k: values[k] for k in cls.__dataclass_fields__ if k in values})


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class LexiconBeamDecoder:
    """Loaded once per process (the LM and trie are read-only); decoding is serialised per instance."""

    def __init__(self, arpa: Path, vocabulary: list[str], settings: BeamSettings = BeamSettings()) -> None:
        if not HAVE_FLASHLIGHT:
            raise RuntimeError("flashlight-text is not installed")
        self.vocabulary = vocabulary
        self.settings = settings
        self._blank = 0
        self._sil = vocabulary.index(" ")
        self._token_ids = {c: i for i, c in enumerate(vocabulary)}
        words = self._read_vocabulary(Path(arpa))
        self.word_dict = Dictionary(words)
        self.lm = KenLM(str(arpa), self.word_dict)
        self.trie = Trie(len(vocabulary), self._sil)
        start = self.lm.start(False)
        for word in words:
            if word in SPECIAL_WORDS or any(c not in self._token_ids for c in word):
                continue
            index = self.word_dict.get_index(word)
            _, score = self.lm.score(start, index)
            self.trie.insert([self._token_ids[c] for c in word], index, score)
        self.trie.smear(SmearingMode.MAX)
        self._lock = threading.Lock()
        self._decoder = self._make_decoder(settings)

    @staticmethod
    def _read_vocabulary(arpa: Path) -> list[str]:
        words, in_unigrams = [], False
        with open(arpa, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("\\1-grams:"):
                    in_unigrams = True
                elif in_unigrams and line.startswith("\\"):
                    break
                elif in_unigrams and line.strip():
                    words.append(line.split("\t")[1].strip())
        if "<unk>" not in words:
            words.append("<unk>")
        return words

    def _make_decoder(self, settings: BeamSettings):
        options = LexiconDecoderOptions(
            beam_size=settings.beam_size, beam_size_token=settings.beam_size_token,
            beam_threshold=settings.beam_threshold, lm_weight=settings.lm_weight,
            word_score=settings.word_score, unk_score=float("-inf"), sil_score=0.0,
            log_add=False, criterion_type=CriterionType.CTC,
        )
        unk = self.word_dict.get_index("<unk>")
        return LexiconDecoder(options, self.trie, self.lm, self._sil, self._blank, unk, [], False)

    def retune(self, settings: BeamSettings) -> None:
        with self._lock:
            self.settings = settings
            self._decoder = self._make_decoder(settings)

    def decode(self, logits: np.ndarray) -> str:
        """Best word sequence for one segment's logits ``(frames, vocab)``."""
        return " ".join(word for word, _, _ in self.decode_words(logits))

    def decode_words(self, logits: np.ndarray) -> list[tuple[str, int, int]]:
        """Best words with their first and one-past-last output frame, from the beam's own alignment."""
        if len(logits) == 0:
            return []
        emissions = np.ascontiguousarray(log_softmax(np.asarray(logits, np.float32)), dtype=np.float32)
        frames, tokens = emissions.shape
        with self._lock:
            results = self._decoder.decode(emissions.ctypes.data, frames, tokens)
        if not results:
            return []
        best = self._spoken(results, emissions)
        path, labels = list(best.tokens), list(best.words)
        offset = max(0, (len(path) - frames) // 2)  # the path carries a sentinel before and after
        words: list[tuple[str, int, int]] = []
        start = None
        for frame in range(frames):
            token = path[frame + offset] if frame + offset < len(path) else self._blank
            if start is None and token not in (self._blank, self._sil):
                start = frame
            label = labels[frame + offset] if frame + offset < len(labels) else -1
            if label >= 0:
                words.append((self.word_dict.get_entry(label), frame if start is None else start, frame + 1))
                start = None
        return words

    def _spoken(self, results: list, emissions: np.ndarray):
        """The best hypothesis, but one with a word when the greedy path spells letters.

        The word penalty tuned on sentences can make the empty hypothesis win over a
        lone short word (theo's "one" spelled "oen" scored -15.7 empty, -16.6 "one"),
        which erased a partial the listener had already seen. When the acoustic
        model emitted letters, the best hypothesis with a word is the better guess;
        a deletion becomes at worst a substitution.
        """
        best = results[0]
        if any(w >= 0 for w in best.words):
            return best
        greedy = emissions.argmax(axis=1)
        if not np.isin(greedy, (self._blank, self._sil), invert=True).any():
            return best
        return next((r for r in results if any(w >= 0 for w in r.words)), best)
