"""Text side of the model: the character vocabulary and transcript normalisation.

Normalisation follows the scoring convention of ``shared/data/README.md``
(lower case, punctuation removed, apostrophes kept, hyphens as spaces), and
spells out digits, so training targets and WER references agree.
"""

from __future__ import annotations

import re

BLANK = "<blank>"
VOCABULARY: tuple[str, ...] = (BLANK, " ", "'") + tuple("abcdefghijklmnopqrstuvwxyz")
CHAR_TO_ID = {c: i for i, c in enumerate(VOCABULARY)}

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """English words for a non-negative integer below one billion."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for size, name in ((1_000_000, "million"), (1000, "thousand")):
        if n >= size:
            high, rest = divmod(n, size)
            return number_to_words(high) + " " + name + ("" if rest == 0 else " " + number_to_words(rest))
    raise ValueError(n)


def _spell_number(match: re.Match) -> str:
    digits = match.group(0)
    if len(digits) > 9:
        return " ".join(_ONES[int(d)] for d in digits)
    return " " + number_to_words(int(digits)) + " "


def normalize_transcript(text: str) -> str:
    """Lower case, digits spelled out, only ``a-z``, apostrophe and single spaces left."""
    text = text.lower().replace("-", " ").replace("\u2019", "'")
    text = re.sub(r"\d+", _spell_number, text)
    text = re.sub(r"[^a-z' ]+", " ", text)
    text = re.sub(r"(?<![a-z])'|'(?![a-z])", " ", text)  # quotes, not apostrophes
    return re.sub(r"\s+", " ", text).strip()


def encode(text: str) -> list[int]:
    """Label ids of an already normalised transcript."""
    return [CHAR_TO_ID[c] for c in text]


def decode_ids(ids: list[int]) -> str:
    return "".join(VOCABULARY[i] for i in ids if i != 0)
