"""Ring buffer bounds and VAD segmentation on real speech and on silence/noise."""

from __future__ import annotations

import numpy as np

from dsp.decode import decode_file
from dsp.ring import RingBuffer
from dsp.vad import FRAME_MS, FRAME_SAMPLES, SpeechAudio, SpeechEnd, SpeechStart, VadSegmenter, whole_frames


def test_ring_buffer_is_fifo_and_bounded():
    ring = RingBuffer(10)
    assert ring.write(np.arange(7)) == 7
    np.testing.assert_array_equal(ring.read(5), np.arange(5))
    assert ring.write(np.arange(7, 20)) == 8  # only the free space is taken
    assert len(ring) == 10 and ring.free == 0
    np.testing.assert_array_equal(ring.read(100), np.arange(5, 15))
    assert len(ring) == 0


def _feed(vad: VadSegmenter, samples: np.ndarray) -> list:
    """Every whole 30 ms frame of ``samples``, in order; the events they produce."""
    return [event for frame in whole_frames(samples) for event in vad.accept_frame(frame)]


def _segments(samples: np.ndarray) -> list[tuple[float, float]]:
    vad = VadSegmenter()
    events = _feed(vad, samples) + vad.flush()
    spans, begin = [], None
    for event in events:
        if isinstance(event, SpeechStart):
            begin = event.time
        elif isinstance(event, SpeechEnd):
            spans.append((begin, event.time))
        else:
            assert isinstance(event, SpeechAudio)
    return spans


def test_vad_finds_two_utterances_separated_by_silence(dev_speech):
    speech = decode_file(dev_speech / "speechbrain_tests" / "ASR" / "spk1_snt1.wav")
    gap = np.zeros(16000 * 2, np.float32)
    spans = _segments(np.concatenate([gap, speech, gap, speech, gap]))
    assert len(spans) == 2
    assert spans[0][0] < 2.2 < spans[0][1] < spans[1][0]


def test_vad_ignores_silence_and_steady_noise():
    rng = np.random.default_rng(0)
    assert _segments(np.zeros(16000 * 5, np.float32)) == []
    hiss = (rng.standard_normal(16000 * 5) * 0.003).astype(np.float32)
    assert _segments(hiss) == []


def test_a_word_shorter_than_the_start_window_is_handed_over_at_end_of_stream(shared_data):
    """A quiet 0.35 s "zero" never fills the start window, so only flush() can keep it."""
    word = decode_file(shared_data / "speech" / "train" / "fsdd" / "recordings" / "0_yweweler_21.wav")
    vad = VadSegmenter()
    assert _feed(vad, word) == []  # the start rule alone would drop the word
    tail = vad.flush()
    assert [type(e) for e in tail] == [SpeechStart, SpeechAudio, SpeechEnd]
    assert tail[0].time == 0.0 and len(tail[1].samples) == len(word) // FRAME_SAMPLES * FRAME_SAMPLES
    assert vad.flush() == []  # the tail is handed over once


def _first_voiced_time(samples: np.ndarray) -> float:
    """Start of the first 30 ms frame webrtcvad calls speech, judged as the segmenter judges it."""
    vad = VadSegmenter()
    return next(i for i, frame in enumerate(whole_frames(samples)) if vad.is_speech(frame)) * FRAME_SAMPLES / 16000


def test_the_pre_roll_counts_back_from_the_first_voiced_frame(dev_speech):
    """The start rule fires frames into a word; the segment still opens padding_ms before its first voiced frame.

    A syllable, then a gap shorter than the hangover, then the rest: the syllable
    belongs to the segment too (a pre-roll counted back from the moment the rule
    fired lost quiet first syllables and word onsets).
    """
    speech = decode_file(dev_speech / "speechbrain_tests" / "ASR" / "spk1_snt1.wav")
    lead = np.zeros(16000, np.float32)
    padding = VadSegmenter().config.padding_ms / 1000
    gap = np.zeros(8 * FRAME_SAMPLES, np.float32)
    for stream in (np.concatenate([lead, speech]),
                   np.concatenate([lead, 0.1 * speech[16000 : 16000 + FRAME_SAMPLES], gap, speech])):
        vad = VadSegmenter()
        events = _feed(vad, stream) + vad.flush()
        starts = [e.time for e in events if isinstance(e, SpeechStart)]
        assert len(starts) == 1
        assert abs(starts[0] - (_first_voiced_time(stream) - padding)) < 1e-6
        assert starts[0] < len(lead) / 16000


def test_an_onset_reaches_back_one_hangover_and_no_further(dev_speech):
    """A soft syllable up to one hangover before the speech opens the segment; one further back is left out.

    The reach back (start window + hangover + pre-roll) is longer than the
    end-of-stream tail, so the pending frames must hold it: with a gap of 18
    frames the syllable lies 38 frames before the start rule fires.
    """
    speech = decode_file(dev_speech / "speechbrain_tests" / "ASR" / "spk1_snt1.wav")
    config = VadSegmenter().config
    hangover, padding = config.hangover_ms // FRAME_MS, config.padding_ms / 1000
    syllable = 0.1 * speech[16000 : 16000 + FRAME_SAMPLES]
    for gap_frames, joined in ((18, True), (30, False)):
        stream = np.concatenate([np.zeros(16000, np.float32), syllable,
                                 np.zeros(gap_frames * FRAME_SAMPLES, np.float32), speech])
        judge = VadSegmenter()
        voiced = [i for i, frame in enumerate(whole_frames(stream)) if judge.is_speech(frame)]
        resumes = next(k for k in range(1, len(voiced)) if voiced[k] - voiced[k - 1] > 1)
        assert (voiced[resumes] - voiced[resumes - 1] <= hangover) == joined  # the stream is what the case means
        first = voiced[0] if joined else voiced[resumes]
        vad = VadSegmenter()
        events = _feed(vad, stream) + vad.flush()
        starts = [e.time for e in events if isinstance(e, SpeechStart)]
        assert len(starts) == 1
        assert abs(starts[0] - (first * FRAME_SAMPLES / 16000 - padding)) < 1e-6
