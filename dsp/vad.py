"""Speech segmentation with webrtcvad: pre-roll padding, start ratio, hangover, length cap.

The segmenter sees 30 ms frames of 16 kHz audio and turns them into events:
``SpeechStart``, ``SpeechAudio`` (the frames of an open segment, pre-roll
included) and ``SpeechEnd``. It keeps only the pre-roll frames while idle, so
it holds bounded memory however long the silence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
import webrtcvad

SAMPLE_RATE = 16000
FRAME_MS = 30
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000


@dataclass(frozen=True)
class VadConfig:
    aggressiveness: int = 2  # webrtcvad mode 0-3
    padding_ms: int = 300  # audio kept before the detected start
    start_window_ms: int = 240  # window in which ...
    start_ratio: float = 0.6  # ... this share of frames must be speech to open a segment
    hangover_ms: int = 600  # non-speech that closes a segment
    max_segment_s: float = 30.0  # a segment is cut here even without a pause


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
        self._preroll: deque[np.ndarray] = deque(maxlen=max(1, config.padding_ms // FRAME_MS))
        self._window: deque[bool] = deque(maxlen=max(1, config.start_window_ms // FRAME_MS))
        self._frames_seen = 0
        self._in_speech = False
        self._silent_frames = 0
        self._segment_frames = 0

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    def is_speech(self, frame: np.ndarray) -> bool:
        pcm = (np.clip(frame, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        return self._vad.is_speech(pcm, SAMPLE_RATE)

    def accept_frame(self, frame: np.ndarray) -> list[VadEvent]:
        if len(frame) != FRAME_SAMPLES:
            raise ValueError(f"VAD frames are {FRAME_SAMPLES} samples")
        c = self.config
        speech = self.is_speech(frame)
        self._frames_seen += 1
        now = self._frames_seen * FRAME_MS / 1000.0
        events: list[VadEvent] = []
        if not self._in_speech:
            self._preroll.append(frame)
            self._window.append(speech)
            voiced = sum(self._window)
            if voiced >= c.start_ratio * self._window.maxlen:
                self._in_speech = True
                self._silent_frames = 0
                audio = np.concatenate(list(self._preroll))
                self._segment_frames = len(self._preroll)
                self._preroll.clear()
                self._window.clear()
                events += [SpeechStart(now - len(audio) / SAMPLE_RATE), SpeechAudio(audio)]
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

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open segment."""
        if not self._in_speech:
            return []
        self._in_speech = False
        return [SpeechEnd(self._frames_seen * FRAME_MS / 1000.0)]
