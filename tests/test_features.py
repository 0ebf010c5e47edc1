"""One feature implementation: training's and serving's paths give identical features."""

from __future__ import annotations

import numpy as np
import soundfile as sf

import dsp.features
import training.render
from dsp.decode import decode_file
from dsp.features import FeatureConfig, StreamingLogMel, log_mel, num_frames
from dsp.resample import TARGET_RATE, resample, to_mono


def _speech(dev_speech) -> np.ndarray:
    return decode_file(dev_speech / "speechbrain_tests" / "ASR" / "spk1_snt1.wav")


def test_training_renders_with_the_serving_feature_function():
    assert training.render.log_mel is dsp.features.log_mel


def test_training_and_serving_read_audio_identically(shared_data):
    """Training reads FSDD (8 kHz) with soundfile + dsp.resample; serving decodes with dsp.decode."""
    path = next((shared_data / "speech" / "train" / "fsdd" / "recordings").glob("3_jackson_*.wav"))
    samples, rate = sf.read(path, dtype="float32", always_2d=True)
    training_path = log_mel(resample(to_mono(samples), rate, TARGET_RATE))
    serving_path = log_mel(decode_file(path))
    np.testing.assert_array_equal(training_path, serving_path)


def test_streaming_features_match_whole_signal_for_any_piece_sizes(dev_speech):
    audio = _speech(dev_speech)
    whole = log_mel(audio)
    rng = np.random.default_rng(7)
    for _ in range(3):
        stream = StreamingLogMel()
        pieces, offset = [], 0
        while offset < len(audio):
            size = int(rng.integers(1, 4000))
            pieces.append(stream.accept(audio[offset : offset + size]))
            offset += size
        streamed = np.concatenate(pieces)
        assert streamed.shape == whole.shape
        np.testing.assert_allclose(streamed, whole, atol=1e-4)


def test_frame_count_and_shape():
    config = FeatureConfig()
    assert num_frames(config.win_length - 1, config) == 0
    assert num_frames(config.win_length, config) == 1
    assert log_mel(np.zeros(16000, np.float32)).shape == (98, config.n_mels)
    assert np.isfinite(log_mel(np.zeros(16000, np.float32))).all()
