"""The inference library on real speech: variants, streaming equivalence, session events, CLI."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from dsp.decode import decode_file
from dsp.features import log_mel
from dsp.resample import resample
from dsp.vad import VadSegmenter, whole_frames
from models.decoder import greedy_decode
from models.recognizer import UtteranceRecognizer, padded_utterance, whole_utterance_text
from models.session import Final, Partial, TranscriptionSession
from tests.conftest import REPO

SPEECH = ("speechbrain_tests/ASR/spk1_snt1.wav", "misc_fixtures/deepspeech_arctic_a0024.wav")


def test_every_variant_in_the_card_is_shipped_and_loads(registry):
    assert set(registry.names()) == {"no_opti", "default", "float16", "experimental"}
    for name in registry.names():
        model = registry.get(name)
        logits, state = model.step(np.zeros((model.chunk_frames, model.n_mels), np.float32), model.initial_state())
        assert logits.shape == (model.chunk_frames // registry.card.output_stride, len(registry.card.vocabulary))
        assert [s.shape for s in state] == [tuple(s) for s in model.state_shapes]


@pytest.mark.parametrize("variant", ["no_opti", "default", "float16", "experimental"])
@pytest.mark.parametrize("clip", SPEECH)
def test_streaming_in_random_pieces_equals_whole_utterance(registry, dev_speech, clip, variant):
    """Greedy text streamed in pieces of any size equals the same file's text over the whole utterance at once.

    The reference is one invoke of the variant over every frame, so the int8
    variants pass only if their rounding does not depend on the chunking.
    """
    model = registry.get(variant)
    audio = decode_file(dev_speech / clip)
    whole = whole_utterance_text(model.run_at_once, log_mel(audio, model.card.features), model.card)
    assert whole  # real speech: the comparison is between two non-empty texts
    rng = np.random.default_rng(1)
    recognizer = UtteranceRecognizer(model)
    offset = 0
    while offset < len(audio):
        size = int(rng.integers(50, 6000))
        recognizer.accept(audio[offset : offset + size])
        offset += size
    assert recognizer.finish() == whole


def test_blank_penalty_only_lets_more_characters_through(registry, dev_speech):
    """The decoder's blank penalty shifts frames from blank to characters and changes nothing else."""
    model = registry.get("no_opti")
    features = log_mel(decode_file(dev_speech / SPEECH[1]), model.card.features)
    logits = model.run(padded_utterance(features, model.card))
    emitted = []
    for penalty in (0.0, 1.0, 3.0):
        shifted = logits.copy()
        shifted[:, 0] -= penalty
        text = greedy_decode(logits, model.card.vocabulary, blank_penalty=penalty)
        assert text == greedy_decode(shifted, model.card.vocabulary)
        emitted.append(int((shifted.argmax(axis=1) != 0).sum()))
    assert emitted[0] <= emitted[1] <= emitted[2] and emitted[0] < emitted[2]


def test_the_beam_keeps_a_word_the_acoustic_model_spelled(registry, models_dir):
    """A lone short word must not lose to the empty hypothesis once the greedy path spells letters."""
    from models.lm_decoder import BeamSettings, LexiconBeamDecoder

    vocabulary = registry.card.vocabulary
    decoder = LexiconBeamDecoder(models_dir / "lm.arpa", vocabulary,
                                 BeamSettings(lm_weight=1.0, word_score=-4.0))  # the empty hypothesis scores best
    silence = np.zeros((30, len(vocabulary)), np.float32)
    silence[:, 0] = 5.0
    assert decoder.decode(silence) == ""  # nothing spelled: empty stays allowed
    spoken = silence.copy()
    for frame, letter in zip((10, 12, 14), "one"):
        spoken[frame, vocabulary.index(letter)] = 6.0
    assert greedy_decode(spoken, vocabulary) == "one"
    assert decoder.decode(spoken) == "one"


def test_session_events_follow_the_protocol_rules(registry, dev_speech):
    """Two utterances with a pause: segments 0 and 1, one final each, after their partials."""
    speech = decode_file(dev_speech / SPEECH[0])
    pause = np.zeros(16000 * 2, np.float32)
    audio = np.concatenate([pause, speech, pause, speech, pause])
    session = registry.new_session()
    events = []
    for start in range(0, len(audio), 3200):
        events += session.accept(audio[start : start + 3200])
    events += session.finish()
    finals = [e for e in events if isinstance(e, Final)]
    assert [f.segment for f in finals] == list(range(len(finals)))
    for final in finals:
        after = events[events.index(final) + 1 :]
        assert not any(isinstance(e, Partial) and e.segment == final.segment for e in after)
        assert final.start < final.end
    texts = [f.text for f in finals if f.text]
    assert texts, "speech produced no text"
    assert len(finals) == 2 and all(f.text for f in finals)
    assert finals[0].end < finals[1].start


def test_silence_and_noise_produce_no_events(registry):
    rng = np.random.default_rng(0)
    session = registry.new_session()
    quiet = np.zeros(16000 * 3, np.float32)
    hiss = (rng.standard_normal(16000 * 3) * 0.003).astype(np.float32)
    assert session.accept(quiet) + session.accept(hiss) + session.finish() == []


def test_a_short_quiet_word_upload_is_transcribed(registry, shared_data):
    """0.35 s: too short for the VAD start rule, kept by its end-of-stream rule."""
    word = decode_file(shared_data / "speech" / "train" / "fsdd" / "recordings" / "0_yweweler_21.wav")
    assert [f.text for f in registry.transcribe(word)] == ["zero"]


def test_a_word_too_quiet_for_webrtcvad_is_transcribed(registry, shared_data):
    """The held-out speaker's "zero", 0.35 s at a peak of 0.02: webrtcvad calls no frame of it voiced.

    A stream no longer than the VAD's end-of-stream tail is judged again at
    speaking level, so the word alone in an upload or a dictation is read.
    """
    word = decode_file(shared_data / "speech" / "train" / "fsdd" / "recordings" / "0_theo_14.wav")
    vad = VadSegmenter()
    assert not any(vad.is_speech(frame) for frame in whole_frames(word))
    assert [f.text for f in registry.transcribe(word)] == ["zero"]
    session = registry.new_session()
    assert [e.text for e in session.accept(word) + session.finish() if isinstance(e, Final)] == ["zero"]


def test_a_short_quiet_upload_without_speech_stays_empty(registry):
    """The speaking-level retry hears raised hiss as speech; the model, given the audio as it came, reads nothing."""
    hiss = (np.random.default_rng(1).standard_normal(8000) * 0.003).astype(np.float32)
    assert registry.transcribe(hiss) == []
    assert registry.transcribe(np.zeros(8000, np.float32)) == []


def test_the_registry_s_vad_mode_reaches_every_session(models_dir, shared_data):
    """A soft "nine" whose first frames webrtcvad's modes 2 and 3 call silence: the server's --vad-mode decides.

    A second of silence leads in, so the stream is longer than the end-of-stream
    tail and only the mode's own judgement counts (a shorter one is judged again
    at speaking level, below).
    """
    from dsp.vad import VadConfig
    from models.registry import ModelRegistry

    word = decode_file(shared_data / "speech" / "train" / "fsdd" / "recordings" / "9_theo_14.wav")
    word = np.concatenate([np.zeros(16000, np.float32), word])
    texts = {}
    for mode in (1, 3):
        registry = ModelRegistry(models_dir, pool_size=1, vad=VadConfig(aggressiveness=mode))
        session = registry.new_session()
        texts[mode] = ([f.text for f in registry.transcribe(word)],
                       [e.text for e in session.accept(word) + session.finish() if isinstance(e, Final)])
    assert texts == {1: (["nine"], ["nine"]), 3: ([], [])}


def test_session_memory_is_bounded_by_its_ring_buffer(registry):
    session = TranscriptionSession(registry.get(), ring_seconds=0.5)
    session.accept(np.zeros(16000 * 30, np.float32))  # one huge piece
    assert session.ring.capacity == 8000 and len(session.ring) < 480


def test_cli_prints_one_line_per_file_and_reports_unreadable_ones(tmp_path: Path, dev_speech, models_dir):
    source = dev_speech / SPEECH[1]
    audio, rate = sf.read(source, dtype="float32")
    stereo = tmp_path / "stereo.flac"  # same samples on both channels: mixes back to the very same audio
    pcm16 = sf.read(source, dtype="int16")[0]
    sf.write(stereo, np.stack([pcm16, pcm16], axis=1), rate, subtype="PCM_16")
    resampled = tmp_path / "speech_44k.ogg"
    sf.write(resampled, resample(audio, rate, 44100), 44100, format="OGG", subtype="VORBIS")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    cmd = [sys.executable, "-m", "models.transcribe", "--models-dir", str(models_dir),
           str(source), str(broken), str(stereo), str(resampled)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(source), str(stereo), str(resampled)]
    assert "broken.wav" in result.stderr and "Traceback" not in result.stderr
    texts = [line.split("\t", 1)[1] for line in lines]
    assert texts[0], "no transcript"
    assert texts[1] == texts[0]  # stereo FLAC of the same samples: the same words
    assert texts[2], "44.1 kHz Ogg Vorbis gave no transcript"


def test_malloc_arenas_are_capped_unless_the_environment_says_otherwise(monkeypatch):
    """A wide beam's per-final allocations would otherwise stay behind in one glibc arena per server thread."""
    from models.arenas import cap_malloc_arenas

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    if not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"):
        pytest.skip("mallopt is glibc's")
    assert cap_malloc_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # glibc read it at start: the user's setting stands
    assert cap_malloc_arenas() is False


def _blas_threads_after_a_registry(env: dict) -> int:
    code = ("from models.registry import ModelRegistry; ModelRegistry(); from threadpoolctl import threadpool_info; "
            "print(max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120, check=True)
    return int(result.stdout.split()[-1])


def test_a_registry_leaves_numpy_one_blas_thread_unless_the_environment_says_otherwise():
    """OpenBLAS's spinning worker took CPU from other streams for nothing (models/blas_threads.py)."""
    from models.blas_threads import BLAS_THREAD_VARIABLES

    env = {k: v for k, v in os.environ.items() if k not in BLAS_THREAD_VARIABLES}
    assert _blas_threads_after_a_registry(env) == 1
    assert _blas_threads_after_a_registry({**env, "OPENBLAS_NUM_THREADS": "2"}) == 2
