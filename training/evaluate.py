"""Evaluate stage: every TFLite variant beside pocketsphinx, in one run, on the same audio.

Writes ``models/REPORT.md`` and ``models/report.png``: per variant the file
size, one-thread CPU real-time factor (model alone and the whole path from
audio to text), pooled WER on ``speech/dev``, WER on the held-out FSDD
speaker, and how often a variant's chunked streaming text equals its own text
over the whole utterance at once (and the float Keras model's).
"""

from __future__ import annotations

import json
import platform
import time
from argparse import Namespace
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm import tqdm

from dsp.decode import decode_file
from dsp.features import log_mel
from models.engine import AcousticModel, ModelCard
from models.recognizer import UtteranceRecognizer, whole_utterance_text
from models.registry import ModelRegistry
from models.session import finals_text, transcribe_samples
from training.corpus import fsdd_items, read_tsv
from training.report import write_report
from training.wer import corpus_wer

DEV_FOLDERS = ("ljspeech_coqui", "speechbrain_tests", "misc_fixtures")


@dataclass
class Clip:
    name: str
    reference: str
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / 16000


@dataclass
class SystemResult:
    name: str
    size_mb: float | None = None
    dev_wer: float = float("nan")
    dev_wer_greedy: float | None = None
    digits_wer: float = float("nan")
    rtf_path: float = float("nan")  # audio -> text, one thread
    rtf_model: float | None = None  # TFLite invokes alone
    stream_agreement: float | None = None  # chunked greedy text == the same file's over the whole utterance
    float_agreement: float | None = None  # chunked greedy text == the float Keras model's over the whole utterance
    dev_by_folder: dict[str, float] = field(default_factory=dict)  # pooled WER of each speech/dev folder
    examples: list[tuple[str, str, str]] = field(default_factory=list)


def load_dev(shared: Path) -> list[Clip]:
    clips = []
    for folder in DEV_FOLDERS:
        root = shared / "speech" / "dev" / folder
        for rel, text in read_tsv(root / "transcripts.tsv"):
            clips.append(Clip(f"{folder}/{rel}", text, decode_file(root / rel)))
    return clips


def load_digits(shared: Path) -> list[Clip]:
    return [Clip(i["id"], i["text"], decode_file(i["path"])) for i in fsdd_items(shared, held_out=True)]


def wer_by_folder(clips: list[Clip], hypotheses: list[str]) -> dict[str, float]:
    """Dev WER per source folder: the book's read speech and the other recordings fail differently."""
    folders: dict[str, tuple[list[str], list[str]]] = {}
    for clip, hypothesis in zip(clips, hypotheses):
        references, hyps = folders.setdefault(clip.name.split("/")[0], ([], []))
        references.append(clip.reference)
        hyps.append(hypothesis)
    return {folder: corpus_wer(refs, hyps) for folder, (refs, hyps) in folders.items()}


def _transcribe_all(transcribe, clips: list[Clip], desc: str) -> tuple[list[str], float]:
    hypotheses, seconds = [], 0.0
    for clip in tqdm(clips, desc=desc, leave=False):
        start = time.process_time()
        hypotheses.append(transcribe(clip.samples))
        seconds += time.process_time() - start
    return hypotheses, seconds / sum(c.seconds for c in clips)


def evaluate_variant(registry: ModelRegistry, name: str, dev: list[Clip], dev_features: list[np.ndarray],
                     digits: list[Clip], whole_texts: list[str] | None) -> SystemResult:
    model = registry.get(name)
    beam = registry.beam_decoder()
    result = SystemResult(name, size_mb=model.size_bytes / 1e6)

    def via_session(samples: np.ndarray) -> str:
        return finals_text(transcribe_samples(model, samples, beam=beam))

    def greedy(samples: np.ndarray) -> str:
        return finals_text(transcribe_samples(model, samples))

    dev_hyp, result.rtf_path = _transcribe_all(via_session, dev, f"{name}/dev")
    result.dev_wer = corpus_wer([c.reference for c in dev], dev_hyp)
    result.dev_by_folder = wer_by_folder(dev, dev_hyp)
    if beam is not None:
        greedy_hyp, _ = _transcribe_all(greedy, dev, f"{name}/dev-greedy")
        result.dev_wer_greedy = corpus_wer([c.reference for c in dev], greedy_hyp)
    digit_hyp, _ = _transcribe_all(via_session, digits, f"{name}/digits")
    result.digits_wer = corpus_wer([c.reference for c in digits], digit_hyp)
    result.examples = [(c.name, c.reference, h) for c, h in zip(dev[:6], dev_hyp[:6])]
    start = time.process_time()
    for f in dev_features:
        model.run(f)
    result.rtf_model = (time.process_time() - start) / sum(c.seconds for c in dev)
    chunked = [chunked_greedy_text(model, clip.samples) for clip in dev]
    at_once = [whole_utterance_text(model.run_at_once, f, model.card) for f in dev_features]
    result.stream_agreement = _share_equal(chunked, at_once)
    if whole_texts is not None:
        result.float_agreement = _share_equal(chunked, whole_texts)
    return result


def chunked_greedy_text(model: AcousticModel, samples: np.ndarray) -> str:
    """Greedy text of one utterance streamed through ``model`` chunk by chunk, as the server runs it."""
    recognizer = UtteranceRecognizer(model)
    recognizer.accept(samples)
    return recognizer.finish()


def _share_equal(texts: list[str], references: list[str]) -> float:
    return float(np.mean([a == b for a, b in zip(texts, references)]))


def whole_utterance_texts(models_dir: Path, card: ModelCard, dev_features: list[np.ndarray]) -> list[str] | None:
    """Greedy text of the float Keras model run over each whole utterance at once (None without TensorFlow).

    The reference for "chunked = float model", which counts what quantization changes.
    """
    try:
        from training.model import build_training_model
        from training.train import load_trained_stack
    except ImportError:
        return None
    model = build_training_model(load_trained_stack(models_dir))

    def float_logits(features: np.ndarray) -> np.ndarray:
        return np.asarray(model(features[None], training=False))[0]

    return [whole_utterance_text(float_logits, f, card) for f in dev_features]


def pocketsphinx_recognizer() -> Callable[[np.ndarray], str] | None:
    """16 kHz float samples -> pocketsphinx's en-us text (its own LM); None when it is not installed."""
    try:
        from pocketsphinx import Decoder
    except ImportError:
        return None
    decoder = Decoder(loglevel="FATAL")

    def recognize(samples: np.ndarray) -> str:
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
        return hyp.hypstr if hyp else ""

    return recognize


def evaluate_pocketsphinx(dev: list[Clip], digits: list[Clip]) -> SystemResult | None:
    recognize = pocketsphinx_recognizer()
    if recognize is None:
        return None
    result = SystemResult("pocketsphinx 5 (en-us, its LM)")
    dev_hyp, result.rtf_path = _transcribe_all(recognize, dev, "pocketsphinx/dev")
    result.dev_wer = corpus_wer([c.reference for c in dev], dev_hyp)
    result.dev_by_folder = wer_by_folder(dev, dev_hyp)
    digit_hyp, _ = _transcribe_all(recognize, digits, "pocketsphinx/digits")
    result.digits_wer = corpus_wer([c.reference for c in digits], digit_hyp)
    return result


def run_evaluate(args: Namespace) -> list[SystemResult]:
    started = time.time()
    registry = ModelRegistry(args.models_dir, threads=1, pool_size=1)
    dev = load_dev(args.shared)
    digits = load_digits(args.shared)
    dev_features = [log_mel(c.samples, registry.card.features) for c in dev]  # one card: the same for every variant
    whole = whole_utterance_texts(args.models_dir, registry.card, dev_features)
    results = [evaluate_variant(registry, name, dev, dev_features, digits, whole) for name in registry.available()]
    reference = None if args.no_pocketsphinx else evaluate_pocketsphinx(dev, digits)
    context = {
        "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}",
        "dev_clips": len(dev), "dev_minutes": round(sum(c.seconds for c in dev) / 60, 2),
        "digit_clips": len(digits), "evaluate_seconds": round(time.time() - started, 1),
        # the card keeps every stage's latest time; the work dir's log only adds stages run before a card existed
        "timings": {**_read_json(args.work_dir / "timings.json"), **registry.card.raw.get("stage_seconds", {})},
        "card": registry.card.raw,
    }
    write_report(args.models_dir, results, reference, context)
    (args.models_dir / "evaluation.json").write_text(json.dumps(
        {"variants": [r.__dict__ for r in results], "pocketsphinx": reference.__dict__ if reference else None},
        indent=2, default=str))
    return results


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}
