"""Train stage: fit the CTC model on the rendered shards and write ``models/normal_model.*``.

Checkpoints every epoch (weights + progress) under the work dir, so a stopped
run resumes. The learning rate follows warm-up then cosine decay over the
planned run, measured in steps or, with ``--minutes``, in wall time, so a
time-boxed run still ends on a low learning rate.
"""

from __future__ import annotations

import json
import math
import time
from argparse import Namespace
from pathlib import Path

import keras
import numpy as np

from training.batches import CTCBatches, ctc_loss
from training.heap import KeepHeapMemory
from training.model import CausalStack, ModelConfig, build_training_model, deepened
from training.render import SHARD_SIZE, SHARDS_FILE, load_shards


def feature_stats(features: list[np.ndarray], sample: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    picked = np.concatenate([f.astype(np.float32) for f in features[:: max(1, len(features) // sample)]])
    return picked.mean(axis=0), picked.std(axis=0) + 1e-3


class ScheduleAndBudget(keras.callbacks.Callback):
    """Warm-up + cosine learning rate over steps or wall time; stops when the budget is spent."""

    def __init__(self, peak: float, total_steps: int, minutes: float | None, done_steps: int, done_seconds: float,
                 warmup: int = 1000):
        super().__init__()
        self.warmup = warmup
        self.peak, self.total_steps, self.minutes = peak, total_steps, minutes
        self.step, self.seconds_before = done_steps, done_seconds
        self.started = time.time()

    def elapsed(self) -> float:
        return self.seconds_before + time.time() - self.started

    def progress(self) -> float:
        by_steps = self.step / max(1, self.total_steps)
        by_time = self.elapsed() / (self.minutes * 60) if self.minutes else 0.0
        return min(1.0, max(by_steps, by_time))

    def on_train_batch_begin(self, batch, logs=None):
        p = self.progress()
        warm = min(1.0, self.step / max(1, self.warmup))
        self.model.optimizer.learning_rate.assign(self.peak * warm * 0.5 * (1 + math.cos(math.pi * p)) + 1e-6)

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.progress() >= 1.0:
            self.model.stop_training = True


def build_stack(args: Namespace, features: list[np.ndarray]) -> CausalStack:
    config = ModelConfig(channels=args.channels, blocks=args.blocks, block=args.block)
    mean, std = feature_stats(features)
    return CausalStack(config, mean, std)


def run_train(args: Namespace) -> Path:
    """Pre-train from scratch on the base set: espeak-ng and flite voices plus FSDD, no natural voices."""
    features, texts, _ = _load_training_shards(args, BASE_SHARDS)
    stack = build_stack(args, features)
    return _fit(stack, features, texts, args, name="checkpoint", learning_rate=args.learning_rate,
                minutes=args.minutes, epochs=args.epochs, warmup=1000)


def run_finetune(args: Namespace) -> Path:
    """Continue from ``models/normal_model.h5`` on a mix that repeats the real FSDD recordings.

    The synthetic sentences dominate the main run's hours; this short second
    cosine cycle gives the only real voices more weight, at a lower peak rate.
    """
    features, texts, ids = _load_training_shards(args, BASE_SHARDS)
    features, texts = _repeat(features, texts, ids, "fsdd/", args.finetune_fsdd_repeats)
    stack = load_trained_stack(args.models_dir)
    return _fit(stack, features, texts, args, name="finetune", learning_rate=args.finetune_learning_rate,
                minutes=args.finetune_minutes, epochs=args.finetune_epochs, warmup=100)


def run_adapt_cycles(args: Namespace) -> None:
    """Every adapt cycle in order (or only ``--adapt-cycle``), each continuing from the model the one before saved."""
    cycles = [args.adapt_cycle] if args.adapt_cycle else range(1, len(args.adapt_minutes) + 1)
    for cycle in cycles:
        if args.adapt_minutes[cycle - 1] or args.max_steps:
            run_adapt(args, cycle)


def run_adapt(args: Namespace, cycle: int = 1) -> Path:
    """One adapt cycle: a new learning-rate cycle on the natural voices (Kokoro, Piper, festival, flite).

    Cycle K trains on its ``--natural-utterances`` range of one seeded
    natural list, so the cycles of a run that rendered the whole set at once
    see what the shipped model's cycles saw when the set grew between them.
    A random share of the base synthetic set stays in the mix so the model does
    not forget what it learned there; the real FSDD digits are repeated as in
    the finetune stage, as often as the cycle's ``--adapt-fsdd-repeats`` says.
    """
    features, texts, ids = _load_training_shards(args, "shard-*.npz")
    natural = args.natural_utterances[cycle - 1]
    base_shards = _for_cycle(args.adapt_base_shards, cycle)
    keep = adapt_mix(ids, args, cycle, _planned_base_items(args))
    features, texts, ids = [features[i] for i in keep], [texts[i] for i in keep], [ids[i] for i in keep]
    fsdd_repeats = _for_cycle(args.adapt_fsdd_repeats, cycle)
    features, texts = _repeat(features, texts, ids, "fsdd/", fsdd_repeats)
    stack = load_trained_stack(args.models_dir)
    learning_rate = _for_cycle(args.adapt_learning_rate, cycle)
    record = {"natural_items": list(natural), "fsdd_repeats": fsdd_repeats, "base_share": args.adapt_base_share,
              "base_shards": base_shards,
              "learning_rate": learning_rate}  # the checkpoint of another peak rate is not resumed either
    blocks = _for_cycle(args.adapt_blocks, cycle)
    if blocks:  # recorded, so that a checkpoint of another depth is not resumed
        record["blocks"] = blocks
        stack = deepened(stack, blocks)  # a no-op once the saved model has that depth
    level_drop_db = _for_cycle(args.adapt_level_drop_db, cycle)
    if level_drop_db:  # recorded only when used, so the cycles trained before it resume as they were
        record["level_drop_db"] = level_drop_db
    warp = _for_cycle(args.adapt_warp, cycle)
    if warp:  # likewise
        record["warp"] = warp
    name = "adapt" if cycle == 1 else f"adapt{cycle}"  # its own checkpoint and card section
    return _fit(stack, features, texts, args, name=name, learning_rate=learning_rate,
                minutes=args.adapt_minutes[cycle - 1], epochs=args.adapt_epochs, warmup=200, record=record,
                level_drop_db=level_drop_db, warp=warp)


def adapt_mix(ids: list[str], args: Namespace, cycle: int, planned_base: int) -> list[int]:
    """The positions in ``ids`` (the training shards in name order) that adapt cycle ``cycle`` trains on.

    ``planned_base``: the base prompts in the data stage's item list. FSDD is
    repeated on top of these positions (``--adapt-fsdd-repeats``).
    """
    base_shards = _for_cycle(args.adapt_base_shards, cycle)
    _check_base_rendered(ids, base_shards, planned_base, cycle)
    rng = np.random.default_rng(args.seed)
    natural = args.natural_utterances[cycle - 1]
    return [i for i, item in enumerate(ids)
            if _in_adapt_mix(item, natural, rng, args.adapt_base_share, base_shards * SHARD_SIZE)]


def _for_cycle(values: list, cycle: int):
    """A per-cycle option's value for ``cycle``: its entry, or the last one for later cycles."""
    return values[min(cycle, len(values)) - 1]


def _in_adapt_mix(item_id: str, natural: tuple[int, int], rng: np.random.Generator, base_share: float,
                  base_items: int) -> bool:
    """Natural items in the cycle's range, all FSDD and noise, a random ``base_share`` of the first ``base_items``.

    Base items past ``base_items`` draw no random number, so the share kept is
    the same whether the cache holds every base shard or only those the cycle
    keeps from (the shipped cycles 8 on were trained from a cache of 12).
    """
    if item_id.startswith("natural/"):
        return natural[0] <= _item_number(item_id) < natural[1]
    if not item_id.startswith("tts/"):
        return True
    return _item_number(item_id) < base_items and rng.random() < base_share


def _item_number(item_id: str) -> int:
    """``tts/000123`` and ``natural/00123#2`` -> 123."""
    return int(item_id.split("/")[1].split("#")[0])


def _planned_base_items(args: Namespace) -> int:
    """How many base prompts the data stage listed (``items.json``), rendered or skipped by ``--tts-shards``."""
    items = json.loads((args.work_dir / "features" / "train" / "items.json").read_text())
    return sum(item["kind"] == "tts" for item in items)


def _check_base_rendered(ids: list[str], base_shards: int, planned_base: int, cycle: int) -> None:
    """Stop before a cycle would train on fewer base items than its mix names (a cache rendered with fewer shards)."""
    wanted = min(base_shards * SHARD_SIZE, planned_base)
    rendered = len({item_id for item_id in ids if item_id.startswith("tts/") and _item_number(item_id) < wanted})
    if rendered < wanted:
        raise SystemExit(f"adapt cycle {cycle} keeps a share of the first {base_shards} base shards, but only "
                         f"{rendered} of their {wanted} utterances are rendered: run the data stage with "
                         f"--tts-shards {base_shards} (or without it)")


BASE_SHARDS = "shard-[0-9]*.npz"  # the adapt stage's natural shards are shard-natural-*


def _repeat(features: list[np.ndarray], texts: list[str], ids: list[str], prefix: str, times: int):
    """The items whose id starts with ``prefix``, ``times`` times in all."""
    chosen = [i for i, item in enumerate(ids) if item.startswith(prefix)]
    for _ in range(max(0, times - 1)):
        features = features + [features[i] for i in chosen]
        texts = texts + [texts[i] for i in chosen]
    return features, texts


def _load_training_shards(args: Namespace, pattern: str):
    features, texts, ids = load_shards(args.work_dir / "features" / "train", pattern)
    if not features:
        raise SystemExit(f"no training shards in {args.work_dir / 'features' / 'train'}: run the data stage first")
    return features, texts, ids


def _fit(stack: CausalStack, features: list[np.ndarray], texts: list[str], args: Namespace, name: str,
         learning_rate: float, minutes: float | None, epochs: int, warmup: int, record: dict | None = None,
         level_drop_db: float = 0.0, warp: float = 0.0) -> Path:
    """Fit with checkpoints ``work/NAME.*`` (resumable), then save ``models/normal_model.*``."""
    work: Path = args.work_dir
    model = build_training_model(stack)  # a continuation's stack carries the trained weights already
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=1e-4, clipnorm=5.0),
                  loss=ctc_loss, jit_compile=False)
    batches = CTCBatches(features, texts, stack.config, args.batch_frames, seed=args.seed, level_drop_db=level_drop_db,
                         warp=warp)
    checkpoint = work / f"{name}.weights.h5"
    progress_file = work / f"{name}.json"
    record = record or {}
    progress = json.loads(progress_file.read_text()) if progress_file.exists() and checkpoint.exists() else {}
    if progress and progress.get("record", {}) != record:  # another experiment's cycle of the same name
        print(f"[{name}] the checkpoint in {work} trained on {progress.get('record', 'an unrecorded mix')}, "
              f"not {record}: starting over")
        progress = {}
    if progress:
        model.load_weights(checkpoint)
        print(f"[{name}] resuming after epoch {progress['epoch']} ({progress['steps']} steps)")
    total_steps = args.max_steps or epochs * len(batches)
    schedule = ScheduleAndBudget(learning_rate, total_steps, minutes, progress.get("steps", 0),
                                 progress.get("seconds", 0.0), warmup)
    history: list[dict] = progress.get("history", [])

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            model.save_weights(checkpoint)
            history.append({"epoch": epoch + 1, "loss": float(logs.get("loss", float("nan"))),
                            "steps": schedule.step, "seconds": round(schedule.elapsed(), 1)})
            progress_file.write_text(json.dumps({"epoch": epoch + 1, "steps": schedule.step,
                                                 "seconds": schedule.elapsed(), "history": history,
                                                 "record": record}))

    start_epoch = progress.get("epoch", 0)
    if schedule.progress() < 1.0:
        steps_per_epoch = min(len(batches), args.max_steps) if args.max_steps else None
        model.fit(batches, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=steps_per_epoch,
                  callbacks=[KeepHeapMemory(), schedule, Checkpoint()], verbose=2 if not args.max_steps else 0)
    section = "training" if name == "checkpoint" else name
    return save_trained(model, stack, args, history, schedule.elapsed(), section, learning_rate, len(features),
                        record)


def save_trained(model: keras.Model, stack: CausalStack, args: Namespace, history: list[dict], seconds: float,
                 section: str = "training", learning_rate: float | None = None, utterances: int | None = None,
                 record: dict | None = None) -> Path:
    models_dir: Path = args.models_dir
    models_dir.mkdir(parents=True, exist_ok=True)
    inference = build_training_model(stack)  # same layers, uncompiled: no optimizer state in the files
    inference.save(models_dir / "normal_model.h5")
    inference.save(models_dir / "normal_model.keras")
    card_path = models_dir / "model.json"
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    if section == "training":  # a model from scratch: the data earlier models saw is not its data
        card.pop("data", None)
        (models_dir / SHARDS_FILE).unlink(missing_ok=True)
    card["model"] = stack.config.to_dict()
    card["normalization"] = {"mean": stack.mean.round(5).tolist(), "std": stack.std.round(5).tolist()}
    card[section] = {"seconds": round(seconds, 1), "history": history[-50:],
                     "batch_frames": args.batch_frames, "learning_rate": learning_rate or args.learning_rate,
                     "utterances": utterances, **(record or {})}
    card_path.write_text(json.dumps(card, indent=2))
    return models_dir / "normal_model.h5"


def load_trained_stack(models_dir: Path) -> CausalStack:
    """Rebuild the layers from the card and load the trained weights into them."""
    card = json.loads((Path(models_dir) / "model.json").read_text())
    norm = card["normalization"]  # Keras keeps these as constants, not weights: the card carries them
    stack = CausalStack(ModelConfig.from_dict(card["model"]), np.array(norm["mean"]), np.array(norm["std"]))
    model = build_training_model(stack)
    model.load_weights(Path(models_dir) / "normal_model.h5")
    return stack
