"""Training pipeline: ``python -m training STAGE`` (see ``__main__``)."""

from argparse import ArgumentTypeError

# The stages in the order ``python -m training all`` runs them (and the report lists their times).
STAGES = ("data", "train", "finetune", "adapt", "export", "lm", "evaluate")


def natural_range(value: str) -> tuple[int, int]:
    """One adapt cycle's natural items: "N" is items 0..N-1, "START:END" items START..END-1.

    A range lets a cycle train on only the utterances rendered for it, so a
    session need not re-synthesize the earlier cycles' Kokoro hours (about ten
    CPU-minutes per thousand utterances) to add one.
    """
    start, _, end = value.rpartition(":")
    first, last = int(start or 0), int(end)
    if not 0 <= first < last:
        raise ArgumentTypeError(f"natural range {value!r}: need 0 <= START < END")
    return first, last
