"""Render a transcript as JSON, plain text, SubRip or WebVTT (the OpenAI ``response_format`` set)."""

from __future__ import annotations

from dataclasses import dataclass, field

RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


@dataclass(frozen=True)
class WordTiming:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    words: list[WordTiming] = field(default_factory=list)


@dataclass(frozen=True)
class Transcript:
    """What one upload produced; every renderer works from this alone."""

    text: str
    segments: list[Segment]
    duration: float
    model: str
    processing_time: float


def _clock(seconds: float, separator: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(transcript: Transcript) -> str:
    blocks = [f"{i}\n{_clock(s.start, ',')} --> {_clock(s.end, ',')}\n{s.text}\n"
              for i, s in enumerate(transcript.segments, start=1)]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    blocks = [f"{_clock(s.start, '.')} --> {_clock(s.end, '.')}\n{s.text}\n" for s in transcript.segments]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_text(transcript: Transcript) -> str:
    return transcript.text + "\n" if transcript.text else ""


def to_api_json(transcript: Transcript, timestamps: bool) -> dict:
    """``POST /api/transcribe``'s body; word timings only when asked for."""
    segments = []
    for s in transcript.segments:
        row: dict = {"start": s.start, "end": s.end, "text": s.text}
        if timestamps:
            row["words"] = [{"word": w.word, "start": w.start, "end": w.end} for w in s.words]
        segments.append(row)
    return {"text": transcript.text, "segments": segments, "duration": transcript.duration,
            "model": transcript.model, "processing_time": transcript.processing_time}


def to_openai_json(transcript: Transcript) -> dict:
    return {"text": transcript.text}


def to_openai_verbose(transcript: Transcript, words: bool) -> dict:
    """OpenAI's ``verbose_json`` shape; fields a CTC model has no value for get neutral ones."""
    body: dict = {
        "task": "transcribe",
        "language": "english",
        "duration": transcript.duration,
        "text": transcript.text,
        "segments": [
            {"id": i, "seek": 0, "start": s.start, "end": s.end, "text": s.text, "tokens": [],
             "temperature": 0.0, "avg_logprob": 0.0, "compression_ratio": 1.0, "no_speech_prob": 0.0}
            for i, s in enumerate(transcript.segments)
        ],
    }
    if words:
        body["words"] = [{"word": w.word, "start": w.start, "end": w.end}
                         for s in transcript.segments for w in s.words]
    return body
