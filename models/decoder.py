"""CTC decoding: greedy best path, incrementally, with word timestamps.

The streaming decoder consumes logits chunk by chunk and keeps only the last
emitted label, so its text is identical to decoding the whole utterance's
logits at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Word:
    text: str
    start: float  # seconds from the start of the decoded audio
    end: float


def penalize_blank(logits: np.ndarray, penalty: float, blank: int = 0) -> np.ndarray:
    """``logits`` with ``penalty`` taken off the blank.

    A small undertrained CTC model mostly errs by deleting characters (blank
    wins a frame it should have lost); a constant penalty, tuned on the
    held-out tuning slice, trades some of those deletions for insertions.
    """
    if not penalty:
        return logits
    adjusted = np.array(logits, dtype=np.float32, copy=True)
    adjusted[..., blank] -= penalty
    return adjusted


@dataclass
class GreedyCTCDecoder:
    """Collapses repeats and drops blanks as logits arrive."""

    vocabulary: list[str]
    frame_seconds: float
    blank: int = 0
    _previous: int = 0
    _frames: int = 0
    _chars: list[str] = field(default_factory=list)
    _char_frames: list[int] = field(default_factory=list)

    def accept(self, logits: np.ndarray) -> None:
        ids = np.asarray(logits).argmax(axis=-1)
        for offset, label in enumerate(ids.tolist()):
            if label != self.blank and label != self._previous:
                self._chars.append(self.vocabulary[label])
                self._char_frames.append(self._frames + offset)
            self._previous = label
        self._frames += len(ids)

    def restart_clock(self) -> None:
        """Count frames from here: what came before (a quiet lead) has no time in the audio."""
        self._frames = 0

    @property
    def text(self) -> str:
        return " ".join("".join(self._chars).split())

    def words(self) -> list[Word]:
        """Words with the times of their first and last characters."""
        words: list[Word] = []
        current: list[tuple[str, int]] = []
        for char, frame in list(zip(self._chars, self._char_frames)) + [(" ", self._frames)]:
            if char == " ":
                if current:
                    words.append(Word("".join(c for c, _ in current), current[0][1] * self.frame_seconds,
                                      (current[-1][1] + 1) * self.frame_seconds))
                current = []
            else:
                current.append((char, frame))
        return words


def greedy_decode(logits: np.ndarray, vocabulary: list[str], blank: int = 0, blank_penalty: float = 0.0) -> str:
    decoder = GreedyCTCDecoder(vocabulary, frame_seconds=0.0, blank=blank)
    decoder.accept(penalize_blank(logits, blank_penalty, blank))
    return decoder.text
