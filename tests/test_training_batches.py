"""Training-time feature augmentation: quieter (or warped) features must be those of quieter (or other) audio."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.decode import decode_file
from dsp.features import FeatureConfig, log_mel

pytest.importorskip("keras", reason="training requirements (training/requirements.txt) not installed")

from training.batches import CTCBatches, quieter, warped  # noqa: E402
from training.model import ModelConfig  # noqa: E402


@pytest.fixture(scope="module")
def speech(dev_speech) -> np.ndarray:
    return decode_file(dev_speech / "misc_fixtures" / "deepspeech_LDC93S1.wav")


@pytest.mark.parametrize("drop_db", [6.0, 20.0, 35.0])
def test_quieter_features_are_those_of_the_audio_played_quieter(speech: np.ndarray, drop_db: float) -> None:
    floor = FeatureConfig().log_floor
    shifted = quieter(log_mel(speech), drop_db, floor)
    recorded = log_mel(speech * np.float32(10 ** (-drop_db / 20)))
    assert np.abs(shifted - recorded).max() < 1e-3
    assert shifted.mean() < log_mel(speech).mean() - 0.5  # and it did get quieter


def test_about_half_the_utterances_of_a_batch_are_made_quieter(speech: np.ndarray) -> None:
    pieces = [log_mel(speech[i * 400: i * 400 + 24000]) for i in range(40)]  # 1.5 s each, all usable
    texts = ["she had your dark suit"] * len(pieces)
    config = ModelConfig()
    plain = CTCBatches(pieces, texts, config, batch_frames=10**6, augment=False)
    assert len(plain) == 1 and len(plain[0][0]) == len(pieces)
    as_recorded = plain[0][0]
    drops = []
    for level_drop_db in (0.0, 20.0):
        batches = CTCBatches(pieces, texts, config, batch_frames=10**6, seed=3, level_drop_db=level_drop_db)
        # SpecAugment masks a few bins and frames; the median cell tells the row's level apart from them
        drops.append(np.median((as_recorded - batches[0][0]).reshape(len(pieces), -1), axis=1))
    assert np.abs(drops[0]).max() < 1e-6
    quieter_share = float(np.mean(drops[1] > 0.5))
    assert 0.25 <= quieter_share <= 0.75


@pytest.mark.parametrize("hz", [300.0, 1000.0, 3000.0])
@pytest.mark.parametrize("alpha", [0.9, 1.1])
def test_a_warp_moves_a_tone_to_the_band_of_the_tone_scaled_by_alpha(hz: float, alpha: float) -> None:
    seconds = np.arange(16000) / 16000

    def tone(frequency: float) -> np.ndarray:
        return log_mel((0.3 * np.sin(2 * np.pi * frequency * seconds)).astype(np.float32))

    recorded = tone(hz)
    assert tone(hz * alpha).mean(axis=0).argmax() != recorded.mean(axis=0).argmax()  # a band apart, at least
    assert warped(recorded, alpha).mean(axis=0).argmax() == tone(hz * alpha).mean(axis=0).argmax()
    assert np.array_equal(warped(recorded, 1.0), recorded)


def test_every_utterance_of_a_batch_is_warped_when_asked_and_none_otherwise(speech: np.ndarray) -> None:
    pieces = [log_mel(speech[i * 400: i * 400 + 24000]) for i in range(20)]
    texts = ["she had your dark suit"] * len(pieces)
    config = ModelConfig()
    as_recorded = CTCBatches(pieces, texts, config, batch_frames=10**6, augment=False)[0][0]
    changed = []
    for warp in (0.0, 0.1):
        batch = CTCBatches(pieces, texts, config, batch_frames=10**6, seed=3, warp=warp)[0][0]
        # SpecAugment masks whole bands and frames; the median cell tells a warped row apart from them
        changed.append(np.median(np.abs(as_recorded - batch).reshape(len(pieces), -1), axis=1))
    assert changed[0].max() < 1e-6
    assert changed[1].min() > 1e-3
