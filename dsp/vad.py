"""Speech segmentation with webrtcvad: pre-roll padding, start ratio, hangover, length cap.

The segmenter sees 30 ms frames of 16 kHz audio and turns them into events:
``SpeechStart``, ``SpeechAudio`` (the frames of an open segment, pre-roll
included) and ``SpeechEnd``. While idle it keeps only the last 1.1 s of
frames (as far back as an onset can reach: start window, hangover and
pre-roll), so it holds bounded memory however long the silence.

A stream can end before the start rule has had its window: a quiet one-word
upload of 0.3 s (the held-out FSDD digits are like that), or a word spoken
just before the browser stops. At :meth:`flush`, pending audio with a few
voiced frames is therefore still handed over as a segment instead of dropped.
webrtcvad judges frames at their absolute level, and some quiet one-word
recordings have no frame it calls voiced at all; when the whole stream is such
a short tail, flush judges it once more with its peak raised to speaking level.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import webrtcvad

SAMPLE_RATE = 16000
FRAME_MS = 30
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000



def whole_frames(samples: np.ndarray) -> Iterator[np.ndarray]:
    """Every whole 30 ms frame of a recording, in order; a trailing part frame is left out.

    For offline callers (benchmarks, tests); a stream goes through the session's ring buffer.
    """
    for start in range(0, len(samples) - FRAME_SAMPLES + 1, FRAME_SAMPLES):
        yield samples[start : start + FRAME_SAMPLES]


def _pcm16(frame: np.ndarray) -> bytes:
    """What webrtcvad reads: little-endian 16-bit PCM."""
    return (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()


@dataclass(frozen=True)
class VadConfig:
    # webrtcvad mode 0-3. Mode 2 missed the onsets of quiet voices (webrtcvad adapts to the level
    # over the first frames); mode 1 merges utterances sooner in loud steady noise, and what it
    # opens on noise alone decodes to nothing (docs/architecture.md, python -m bench.vad_modes).
    aggressiveness: int = 1
    padding_ms: int = 300  # audio kept before the speech's first voiced frame
    start_window_ms: int = 240  # window in which ...
    start_ratio: float = 0.6  # ... this share of frames must be speech to open a segment
    hangover_ms: int = 600  # non-speech that closes a segment
    max_segment_s: float = 30.0  # a segment is cut here even without a pause
    tail_ms: int = 1000  # at end of stream, up to this much pending audio ...
    tail_voiced_frames: int = 3  # ... with this many voiced 30 ms frames becomes a segment
    quiet_tail_peak: float = 0.5  # a whole stream within tail_ms is judged again with its peak raised to this ...
    quiet_tail_floor: float = 0.002  # ... when its own peak is above this (-54 dBFS: silence stays silence)


@dataclass(frozen=True)
class SpeechStart:
    time: float  # seconds from the start of the stream, pre-roll included


@dataclass(frozen=True)
class SpeechAudio:
    samples: np.ndarray


@dataclass(frozen=True)
class SpeechEnd:
    time: float


VadEvent = SpeechStart | SpeechAudio | SpeechEnd


class VadSegmenter:
    """Feed 30 ms frames with :meth:`accept_frame`; call :meth:`flush` at end of stream."""

    def __init__(self, config: VadConfig = VadConfig()) -> None:
        self.config = config
        self._vad = webrtcvad.Vad(config.aggressiveness)
        self._preroll_frames = max(1, config.padding_ms // FRAME_MS)
        self._hangover_frames = config.hangover_ms // FRAME_MS
        self._tail_frames = max(1, config.tail_ms // FRAME_MS)
        self._window: deque[bool] = deque(maxlen=max(1, config.start_window_ms // FRAME_MS))
        # (frame, voiced) pairs since the last segment: everything _onset() can reach back to,
        # and the tail flush() may keep
        self._pending: deque[tuple[np.ndarray, bool]] = deque(maxlen=max(
            self._window.maxlen + self._hangover_frames + self._preroll_frames, self._tail_frames))
        self._frames_seen = 0
        self._in_speech = False
        self._silent_frames = 0
        self._segment_frames = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def is_speech(self, frame: np.ndarray) -> bool:
        return self._vad.is_speech(_pcm16(frame), SAMPLE_RATE)

    def accept_frame(self, frame: np.ndarray) -> list[VadEvent]:
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"VAD frames are {FRAME_SAMPLES} samples")
        c = self.config
        speech = self.is_speech(frame)
        self._frames_seen += 1
        now = self._frames_seen * FRAME_MS / 1000.0
        events: list[VadEvent] = []
        if not self._in_speech:
            self._pending.append((frame, speech))
            self._window.append(speech)
            voiced = sum(self._window)
            if voiced >= c.start_ratio * self._window.maxlen:
                self._in_speech = True
                self._silent_frames = 0
                return self._open(now, self._onset(list(self._pending)))
            return events
        events.append(SpeechAudio(frame))
        self._segment_frames += 1
        self._silent_frames = 0 if speech else self._silent_frames + 1
        too_long = self._segment_frames * FRAME_MS / 1000.0 >= c.max_segment_s
        if self._silent_frames * FRAME_MS >= c.hangover_ms or too_long:
            events.append(SpeechEnd(now))
            self._in_speech = False
            self._segment_frames = 0
        return events

    def _voiced_at_speaking_level(self, frames: list[np.ndarray]) -> int:
        """Voiced frames of a short whole stream, judged by a fresh webrtcvad with its peak raised to speaking level.

        A quiet microphone's lone word (the held-out FSDD speaker's "zero" peaks
        at 0.02 of full scale) can fall under webrtcvad's absolute level in every
        frame, and the upload came back empty though the model reads the word.
        Only the decision sees the raised level; the recognizer gets the audio
        as it came, so raised noise decodes to nothing and yields no events.
        """
        peak = max((float(np.max(np.abs(frame))) for frame in frames), default=0.0)
        if peak <= self.config.quiet_tail_floor or peak >= self.config.quiet_tail_peak:
            return 0
        judge = webrtcvad.Vad(self.config.aggressiveness)
        gain = self.config.quiet_tail_peak / peak
        return sum(judge.is_speech(_pcm16(frame * gain), SAMPLE_RATE) for frame in frames)

    def _onset(self, pending: list[tuple[np.ndarray, bool]]) -> list[tuple[np.ndarray, bool]]:
        """The pending frames a new segment starts with: the pre-roll before the speech's first frame.

        The start rule fires some frames into the word, and quiet onsets (a
        fricative, the first syllable of a soft voice) are often voiced frames
        separated from the window by a short gap. Voiced frames within one
        hangover before the window's first voiced frame would not have been
        split from it by the hangover, so they belong to the same speech and the
        pre-roll is counted back from the earliest of them. The reach stops
        there (no chaining from blip to blip through a noisy lead-in), which is
        what bounds ``_pending``.
        """
        window_first = next(i for i in range(max(0, len(pending) - self._window.maxlen), len(pending))
                            if pending[i][1])
        earliest = next((i for i in range(max(0, window_first - self._hangover_frames), window_first)
                         if pending[i][1]), window_first)
        return pending[max(0, earliest - self._preroll_frames):]

    def _open(self, now: float, frames: list[tuple[np.ndarray, bool]]) -> list[VadEvent]:
        audio = np.concatenate([frame for frame, _ in frames])
        self._segment_frames = len(frames)
        self._pending.clear()
        self._window.clear()
        return [SpeechStart(now - len(audio) / SAMPLE_RATE), SpeechAudio(audio)]

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open segment, or hand over a voiced tail the start rule never saw whole."""
        now = self._frames_seen * FRAME_MS / 1000.0
        if not self._in_speech:
            pending = list(self._pending)[-self._tail_frames:]
            voiced = sum(voiced for _, voiced in pending)
            if voiced < self.config.tail_voiced_frames and self._frames_seen <= self._tail_frames:
                voiced = self._voiced_at_speaking_level([frame for frame, _ in pending])
            if voiced < self.config.tail_voiced_frames:
                return []
            return self._open(now, pending) + [SpeechEnd(now)]
        self._in_speech = False
        return [SpeechEnd(now)]
