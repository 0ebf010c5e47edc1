"""``python -m training STAGE``: data, train, finetune, adapt, export, lm, evaluate, or all of them in order.

Every stage caches its output under ``--work-dir`` and skips what is done, so
``python -m training all`` resumes after an interruption.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from training import STAGES, natural_range

REPO = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument("stage", choices=[*STAGES, "all"])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data",
                        help="the shared data folder (default: ../shared/data)")
    parser.add_argument("--work-dir", type=Path, default=REPO / ".cache" / "training",
                        help="synthesized data, features and checkpoints")
    parser.add_argument("--models-dir", type=Path, default=REPO / "models")
    data = parser.add_argument_group("data")
    data.add_argument("--tts-utterances", type=int, default=20000)
    data.add_argument("--tts-shards", type=int, default=None,
                      help="render only the first N shards (500 prompts each) of the base espeak-ng/flite prompts, "
                           "e.g. for one adapt cycle: as many as its --adapt-base-shards; default: all")
    data.add_argument("--fsdd-copies", type=int, default=3, help="augmented copies of each FSDD recording")
    data.add_argument("--natural-utterances", type=natural_range, nargs="+",
                      default=[(0, 2400), (0, 3500), (0, 3500), (0, 5000), (0, 7500), (9500, 13500), (9500, 15500),
                               (15500, 19000), (15500, 19000), (19000, 22000),
                               (19000, 22000), (22000, 25000), (22000, 25000), (25000, 28000),
                               (25000, 28000), (31000, 34000), (28000, 34000), (28000, 34000), (28000, 37000),
                               (28000, 37000)],
                      help="natural-voice (Kokoro, Piper, festival, flite) utterances each adapt cycle trains on, as "
                           "N (the first N of one seeded list) or START:END (items START..END-1, e.g. only those new "
                           "to the cycle); the data stage renders what the cycles (or --adapt-cycle alone) need. "
                           "Kokoro and Piper: ~0.3 CPU-s per audio second")
    data.add_argument("--natural-copies", type=int, default=3, help="augmented renderings of each natural utterance")
    data.add_argument("--noise-utterances", type=int, default=300)
    data.add_argument("--tune-utterances", type=int, default=300,
                      help="held-out utterances in each tuning slice (base voices: int16 calibration; natural: decoder)")
    data.add_argument("--seed", type=int, default=0)
    data.add_argument("--tuning-only", action="store_true",
                      help="render only the two held-out tuning slices (base and natural voices) for the lm stage")
    train = parser.add_argument_group("train")
    train.add_argument("--epochs", type=int, default=30)
    train.add_argument("--minutes", type=float, default=75.0, help="wall-time budget of the main run (the shipped model: 75)")
    train.add_argument("--batch-frames", type=int, default=24000, help="feature frames per batch")
    train.add_argument("--learning-rate", type=float, default=1e-3)
    train.add_argument("--channels", type=int, default=320)
    train.add_argument("--blocks", type=int, default=12)
    train.add_argument("--block", choices=["postact", "preact"], default="postact",
                       help="residual block design (training/model.py; the shipped model: postact)")
    train.add_argument("--max-steps", type=int, default=None, help="for smoke tests")
    finetune = parser.add_argument_group("finetune (a second, short cycle that repeats the real FSDD voices)")
    finetune.add_argument("--finetune-minutes", type=float, default=12.0, help="0 skips the stage")
    finetune.add_argument("--finetune-epochs", type=int, default=3)
    finetune.add_argument("--finetune-learning-rate", type=float, default=3e-4)
    finetune.add_argument("--finetune-fsdd-repeats", type=int, default=4)
    adapt = parser.add_argument_group(
        "adapt (learning-rate cycles on the natural voices: Kokoro, Piper, festival, flite)")
    adapt.add_argument("--adapt-minutes", type=float, nargs="+",
                       default=[160.0, 35.0, 60.0, 60.0, 58.0, 25.0, 65.0, 55.0, 15.0, 45.0,
                                15.0, 45.0, 15.0, 45.0, 15.0, 45.0, 15.0, 15.0, 40.0, 15.0],
                       help="wall-time budget of each adapt cycle, one per --natural-utterances (the shipped model's "
                            "cycle 1: 85, then resumed with the budget raised to 160); 0 skips a cycle")
    adapt.add_argument("--adapt-epochs", type=int, default=40)
    adapt.add_argument("--adapt-learning-rate", type=float, nargs="+", default=[5e-4, 5e-4, 5e-4, 5e-4, 5e-4, 3e-4],
                       help="peak learning rate of each adapt cycle, one per cycle (the last carries on to later cycles)")
    adapt.add_argument("--adapt-cycle", type=int, default=None,
                       help="run only this cycle (1, 2...) from the model in --models-dir; default: every cycle in "
                            "order, each a new learning-rate cycle with its own checkpoint, resumed only when it "
                            "trained on the same mix (range, FSDD repeats, base share and shards, depth, peak rate, "
                            "level drop)")
    adapt.add_argument("--adapt-fsdd-repeats", type=int, nargs="+",
                       default=[4, 4, 4, 4, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 2, 4, 8, 4, 8],
                       help="times the real FSDD recordings appear in each adapt cycle's mix, one per cycle (the last "
                            "carries on to later cycles)")
    adapt.add_argument("--adapt-blocks", type=int, nargs="+",
                       default=[0, 0, 0, 0, 0, 16, 16, 16, 16, 16, 16, 16, 16, 16, 16, 20],
                       help="residual blocks to deepen the model to before each cycle, one per cycle (the last carries "
                            "on to later cycles; new blocks start as the identity, every trained weight is kept); 0 "
                            "keeps its depth (the shipped model: 12 blocks in cycles 1-5, 16 from cycle 6, 20 from "
                            "cycle 16)")
    adapt.add_argument("--adapt-level-drop-db", type=float, nargs="+",
                       default=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 20.0],
                       help="each adapt cycle makes half its utterances up to this many dB quieter (on the features, "
                            "exactly; the rendered audio peaks at 0.9 of full scale, then -25..+3 dB), one per cycle "
                            "(the last carries on; the shipped model: 20 from cycle 12 on)")
    adapt.add_argument("--adapt-warp", type=float, nargs="+", default=[0.0],
                       help="each adapt cycle scales every utterance's frequencies by a factor drawn from 1 +- this "
                            "(vocal tract length perturbation, on the features, fresh each epoch), one per cycle (the "
                            "last carries on; the shipped model: 0)")
    adapt.add_argument("--adapt-base-share", type=float, default=0.3,
                       help="share of the base espeak/flite utterances kept in the adapt mix")
    adapt.add_argument("--adapt-base-shards", type=int, nargs="+", default=[40, 40, 40, 40, 40, 20, 20, 12],
                       help="the base share is drawn from the first N base shards (500 prompts each), one per cycle "
                            "(the last carries on; the shipped model: all 40 in cycles 1-5, 20 in 6-7, 12 from 8 "
                            "on); the data stage's --tts-shards must render at least that many")
    lm = parser.add_argument_group("lm")
    lm.add_argument("--lm-order", type=int, default=4,
                    help="n-gram order of the word LM (the shipped model: 4; 3 was shipped before session 21)")
    lm.add_argument("--general-lm-shares", type=float, nargs="+", default=[0.0],
                    help="shares of general English (pocketsphinx's en-us bigrams) tried in the LM mixture, e.g. "
                         "0 0.3 0.5 0.7; the tuning slice picks one (0 alone, the default: the book's LM only, "
                         "as shipped; see the report's ablations)")
    lm.add_argument("--general-bigrams", type=int, default=500_000,
                    help="general-English bigrams kept, the most frequent first (size: about 25 MB of ARPA at 500k)")
    lm.add_argument("--blank-penalties", type=float, nargs="+", default=[1.0, 2.0, 3.0, 4.0],
                    help="blank penalties tried with each LM weight and word bonus (0 alone: the ablation without one)")
    lm.add_argument("--keep-decoder", action="store_true",
                    help="rebuild lm.arpa but keep the card's beam settings instead of tuning them again (reproduces "
                         "the shipped decoder, tuned after cycle 7)")
    evaluate = parser.add_argument_group("evaluate")
    evaluate.add_argument("--no-pocketsphinx", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.stage in ("adapt", "all") and len(args.natural_utterances) != len(args.adapt_minutes):
        parser.error("--natural-utterances and --adapt-minutes take one value per adapt cycle")
    if args.adapt_cycle is not None and not 1 <= args.adapt_cycle <= len(args.adapt_minutes):
        parser.error(f"--adapt-cycle is 1..{len(args.adapt_minutes)}")
    stages = STAGES if args.stage == "all" else [args.stage]
    timings = {}
    for stage in stages:
        start = time.time()
        if stage == "data":
            from training.stages import run_data
            run_data(args)
        elif stage == "train":
            from training.train import run_train
            run_train(args)
        elif stage == "finetune":
            if args.finetune_minutes or args.max_steps:
                from training.train import run_finetune
                run_finetune(args)
        elif stage == "adapt":
            from training.train import run_adapt_cycles
            run_adapt_cycles(args)
        elif stage == "export":
            from training.export import run_export
            run_export(args)
        elif stage == "lm":
            from training.lm_stage import run_lm
            run_lm(args)
        elif stage == "evaluate":
            from training.evaluate import run_evaluate
            run_evaluate(args)
        seconds = round(time.time() - start, 1)
        print(f"[training] {stage} done in {seconds} s", file=sys.stderr)
        if stage == "data" and args.tuning_only:
            continue  # a part of the stage: the card keeps the whole stage's time
        timings[stage] = seconds
        _record_stage_times(args.work_dir / "timings.json", args.models_dir / "model.json", timings)
    return 0


def _record_stage_times(log: Path, card_path: Path, timings: dict[str, float]) -> None:
    """After each stage, so that the evaluate stage of ``all`` reports the stages run before it.

    The model card keeps the latest time of every stage, because the work dir
    is a cache that a later session may not have; the work dir's log holds the
    times of stages run before a card existed (a fresh ``--models-dir``).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(log.read_text()) if log.exists() else {}
    log.write_text(json.dumps({**previous, **timings}, indent=2))
    if card_path.exists():
        card = json.loads(card_path.read_text())
        card["stage_seconds"] = {**card.get("stage_seconds", {}), **timings}
        card_path.write_text(json.dumps(card, indent=2))


if __name__ == "__main__":
    sys.exit(main())
