"""Training-time level augmentation: quieter features must be the features of quieter audio."""

from __future__ import annotations

import numpy as np
import pytest

from dsp.decode import decode_file
from dsp.features import FeatureConfig, log_mel

pytest.importorskip("keras", reason="training requirements (training/requirements.txt) not installed")

from training.batches import CTCBatches, quieter  # noqa: E402
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
