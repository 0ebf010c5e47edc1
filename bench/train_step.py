"""``python -m bench.train_step``: wall and CPU time of one training step, with and without ``training/heap.py``.

Each setting runs in its own process (the heap setting is process-wide): the
shipped model's layers (``models/model.json``) fed random log-mel batches of
the training run's size (24000 frames, utterances of 3 to 10 s) through the
same ``CTCBatches`` and CTC loss as the adapt stage. The first steps (graph
tracing) are not timed. Needs the training requirements (TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from bench.common import REPO

WARMUP_STEPS = 5


def time_steps(steps: int, keep_heap: bool, batch_frames: int) -> dict:
    import keras

    from training.batches import CTCBatches, ctc_loss
    from training.heap import KeepHeapMemory
    from training.model import build_training_model
    from training.train import load_trained_stack

    stack = load_trained_stack(REPO / "models")
    rng = np.random.default_rng(0)
    lengths = rng.integers(300, 1000, size=steps * batch_frames // 500)
    features = [rng.normal(size=(n, stack.config.n_mels)).astype(np.float16) for n in lengths]
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz "))
    texts = ["".join(rng.choice(letters, size=n // 12)).strip() or "a" for n in lengths]
    model = build_training_model(stack)
    model.compile(optimizer=keras.optimizers.AdamW(1e-5), loss=ctc_loss, jit_compile=False)
    batches = CTCBatches(features, texts, stack.config, batch_frames)

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == WARMUP_STEPS - 1:
                self.wall, self.cpu = time.perf_counter(), os.times()

        def on_train_end(self, logs=None):
            cpu, timed = os.times(), steps - WARMUP_STEPS
            self.result = {"wall_s": (time.perf_counter() - self.wall) / timed,
                           "user_s": (cpu.user - self.cpu.user) / timed,
                           "system_s": (cpu.system - self.cpu.system) / timed}

    clock = Clock()
    callbacks = [KeepHeapMemory(), clock] if keep_heap else [clock]
    model.fit(batches, epochs=1, steps_per_epoch=steps, callbacks=callbacks, verbose=0)
    return {"keep_heap": keep_heap, "steps_timed": steps - WARMUP_STEPS, **clock.result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.train_step", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=25, help=f"steps per setting, the first {WARMUP_STEPS} untimed")
    parser.add_argument("--batch-frames", type=int, default=24000)
    parser.add_argument("--worker", choices=["plain", "keep-heap"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.steps <= WARMUP_STEPS:
        parser.error(f"--steps must be more than {WARMUP_STEPS}")
    if args.worker:
        print(json.dumps(time_steps(args.steps, args.worker == "keep-heap", args.batch_frames)))
        return 0
    print("| glibc heap | wall s/step | user CPU s/step | kernel CPU s/step |\n|---|---|---|---|")
    for worker in ("plain", "keep-heap"):
        done = subprocess.run([sys.executable, "-m", "bench.train_step", "--worker", worker, "--steps",
                               str(args.steps), "--batch-frames", str(args.batch_frames)],
                              cwd=REPO, capture_output=True, text=True, check=True)
        row = json.loads(done.stdout.strip().splitlines()[-1])
        label = "kept (training/heap.py)" if row["keep_heap"] else "as TensorFlow leaves it"
        print(f"| {label} | {row['wall_s']:.2f} | {row['user_s']:.2f} | {row['system_s']:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
