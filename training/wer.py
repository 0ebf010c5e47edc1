"""Word error rate with the shared data's normalisation (see ``models.text``)."""

from __future__ import annotations

from models.text import normalize_transcript


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word))
        previous = current
    return previous[-1]


def corpus_wer(references: list[str], hypotheses: list[str]) -> float:
    """Pooled WER: total word errors over total reference words."""
    errors = words = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref = normalize_transcript(reference).split()
        errors += edit_distance(ref, normalize_transcript(hypothesis).split())
        words += len(ref)
    return errors / max(1, words)
