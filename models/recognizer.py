"""One utterance through the model: streaming features -> chunks -> TFLite -> greedy text.

Audio goes in any piece size; every whole chunk of feature frames is run at
once, so text grows while the person speaks. ``finish`` feeds the model a
short stretch of quiet so the characters a causal CTC model emits late come
out, which is also what the whole-utterance reference does.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from dsp.features import FeatureConfig, StreamingLogMel, log_mel
from models.decoder import GreedyCTCDecoder, Word, greedy_decode, penalize_blank
from models.engine import AcousticModel, ModelCard
from models.lm_decoder import LexiconBeamDecoder


@lru_cache(maxsize=4)
def quiet_frames(config: FeatureConfig, count: int) -> np.ndarray:
    """Feature frames of near-silence (-80 dBFS noise), as training's padding sounds."""
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(config.win_length + config.hop_length * (count - 1)) * 1e-4).astype(np.float32)
    return log_mel(samples, config)


def lead_frames(card: ModelCard) -> np.ndarray:
    return quiet_frames(card.features, card.chunk_frames)


def padded_utterance(features: np.ndarray, card: ModelCard) -> np.ndarray:
    """``features`` as the recognizer runs them: quiet lead, the audio, quiet to whole chunks plus the flush."""
    tail = (-len(features)) % card.chunk_frames + card.flush_frames
    return np.concatenate([lead_frames(card), np.asarray(features, np.float32), quiet_frames(card.features, tail)])


def whole_utterance_text(logits_of: Callable[[np.ndarray], np.ndarray], features: np.ndarray, card: ModelCard) -> str:
    """Greedy text of ``logits_of`` run once over ``features`` padded as the recognizer pads them.

    The reference streaming is compared with: ``logits_of`` is a TFLite file
    run at once, or the float Keras model.
    """
    logits = logits_of(padded_utterance(features, card))
    return greedy_decode(logits, card.vocabulary, blank_penalty=card.blank_penalty)


class UtteranceRecognizer:
    """Greedy text while audio arrives; the final text from the LM beam search when one is given.

    The segment's logits are kept for that final search; segments are capped in
    length by the VAD, so this stays bounded.
    """

    def __init__(self, model: AcousticModel, beam: LexiconBeamDecoder | None = None) -> None:
        self.model = model
        self.beam = beam
        self._logits: list[np.ndarray] = []
        self._final_text: str | None = None
        self._beam_words: list[Word] = []
        card = model.card
        self.features = StreamingLogMel(card.features)
        self.state = model.initial_state()
        frame_seconds = card.output_stride * card.features.hop_length / card.features.sample_rate
        self.decoder = GreedyCTCDecoder(card.vocabulary, frame_seconds)
        self.blank_penalty = card.blank_penalty  # applied once per chunk, for the greedy and the beam decoder
        self._pending = np.zeros((0, card.features.n_mels), np.float32)
        self.finished = False
        # Every training utterance starts in silence; so does every recognised one. One chunk of
        # quiet before the audio (its time is not counted) helps words that start at the first sample.
        self._run_chunks(lead_frames(card))
        self.decoder.restart_clock()

    def _run_chunks(self, frames: np.ndarray) -> None:
        self._pending = np.concatenate([self._pending, frames]) if len(self._pending) else frames
        size = self.model.chunk_frames
        while len(self._pending) >= size:
            logits, self.state = self.model.step(self._pending[:size], self.state)
            logits = penalize_blank(logits, self.blank_penalty)
            self.decoder.accept(logits)
            if self.beam is not None:
                self._logits.append(logits)
            self._pending = self._pending[size:]

    def accept(self, samples: np.ndarray) -> None:
        """Add 16 kHz float32 samples."""
        frames = self.features.accept(samples)
        if len(frames):
            self._run_chunks(frames)

    def accept_features(self, frames: np.ndarray) -> None:
        self._run_chunks(np.asarray(frames, np.float32))

    def finish(self) -> str:
        if not self.finished:
            size = self.model.chunk_frames
            pad = (-len(self._pending)) % size + self.model.card.flush_frames
            self._run_chunks(quiet_frames(self.model.card.features, pad))
            self.finished = True
            if self.beam is not None and self._logits:
                lead = self.model.chunk_frames // self.model.card.output_stride  # the quiet lead's output frames
                seconds = self.decoder.frame_seconds
                self._beam_words = [Word(text, (start - lead) * seconds, (end - lead) * seconds)
                                    for text, start, end in self.beam.decode_words(np.concatenate(self._logits))]
                self._final_text = " ".join(w.text for w in self._beam_words)
                self._logits = []
        return self.text

    @property
    def text(self) -> str:
        """Greedy text so far; after :meth:`finish`, the beam search's text when there is a beam."""
        return self._final_text if self._final_text is not None else self.decoder.text

    @property
    def greedy_text(self) -> str:
        return self.decoder.text

    def words(self) -> list[Word]:
        """Word times: from the beam's alignment once it has decided, else from the greedy path."""
        return self._beam_words if self._final_text is not None else self.decoder.words()
