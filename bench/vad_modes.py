"""``python -m bench.vad_modes``: which webrtcvad mode the segmenter uses, and what the choice costs.

Two questions decide the mode. Does segmenting lose speech the model would
have recognised? Training-speaker FSDD words (never the held-out speaker, never
``speech/dev``), as recorded and 20 dB quieter, go through the served session
and through one recognizer over the whole clip; the share whose texts agree is
the segmenter's loss. Each word goes in twice: alone, as an upload (a stream
that short is judged again at speaking level when it ends), and after a second
of silence, as a microphone left running hears it (only the mode decides).
And does a less aggressive mode stop segments from closing in noise? Two
stretches of a training speaker's words, 2 s apart, in steady white, pink and
brown noise must still come out as two segments, and noise alone should yield
no transcript.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_DATA, REPO
from dsp.decode import decode_file
from dsp.vad import SpeechStart, VadConfig, VadSegmenter, whole_frames
from models.registry import ModelRegistry
from models.recognizer import UtteranceRecognizer
from models.session import finals_text, transcribe_samples
from training.augment import NOISE_EXPONENTS, colored_noise
from training.corpus import fsdd_items
from training.wer import corpus_wer


def segment_count(samples: np.ndarray, mode: int) -> int:
    vad = VadSegmenter(VadConfig(aggressiveness=mode))
    events = [event for frame in whole_frames(samples) for event in vad.accept_frame(frame)]
    return sum(isinstance(e, SpeechStart) for e in events + vad.flush())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vad_modes", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    parser.add_argument("--clips", type=int, default=300, help="training-speaker FSDD words (each also 20 dB down)")
    parser.add_argument("--modes", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    registry = ModelRegistry(args.models_dir)
    model, beam = registry.get("default"), registry.beam_decoder()

    items = fsdd_items(args.data, held_out=False)
    rng = np.random.default_rng(1)
    clips = []
    for index in rng.choice(len(items), min(args.clips, len(items)), replace=False):
        samples = decode_file(items[index]["path"])
        clips += [(items[index]["text"], samples), (items[index]["text"], samples * 0.1)]
    references = [text for text, _ in clips]

    def whole(samples: np.ndarray) -> str:
        recognizer = UtteranceRecognizer(model, beam)
        recognizer.accept(samples)
        return recognizer.finish()

    wholes = [whole(samples) for _, samples in clips]
    print(f"{len(clips)} training-speaker FSDD words (half 20 dB down); whole clip, no VAD: "
          f"WER {corpus_wer(references, wholes):.3f}")

    sentence = decode_file(args.data / "speech" / "train" / "fsdd" / "recordings" / "6_jackson_0.wav")
    sentence = np.concatenate([sentence] * 4)  # the same word four times: about 2 s of speech
    gap = np.zeros(2 * 16000, np.float32)
    program = np.concatenate([gap, sentence, gap, sentence, gap])
    power = np.sqrt(np.mean(sentence**2))
    lead = np.zeros(16000, np.float32)
    print("mode  WER  quiet WER  agrees with whole clip: alone / after 1 s of silence  "
          "segments in noise (2 expected)  text from noise alone")
    for mode in args.modes:
        config = VadConfig(aggressiveness=mode)
        texts = [finals_text(transcribe_samples(model, s, config, beam=beam)) for _, s in clips]
        late = [finals_text(transcribe_samples(model, np.concatenate([lead, s]), config, beam=beam)) for _, s in clips]
        agree, agree_late = (np.mean([a == b for a, b in zip(t, wholes)]) for t in (texts, late))
        counts, noise_words = [], 0
        for kind, exponent in NOISE_EXPONENTS.items():
            for snr in (30, 20, 10, 5):
                noise = colored_noise(len(program), rng, exponent) * power / 10 ** (snr / 20)
                counts.append(segment_count(program + noise, mode))
            alone = colored_noise(10 * 16000, rng, exponent) * power / 10 ** (10 / 20)
            noise_words += sum(len(f.text.split()) for f in transcribe_samples(model, alone, config, beam=beam))
        print(f"{mode:4d}  {corpus_wer(references, texts):.3f}  {corpus_wer(references[1::2], texts[1::2]):9.3f}  "
              f"{agree:37.3f} / {agree_late:.3f}  {'/'.join(map(str, counts)):>31}  {noise_words:>9d} words")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
