"""Export stage: Keras weights -> streaming graph -> four TFLite variants + model card.

The streaming graph has batch 1, static cache shapes and its caches as named
inputs/outputs, exported through a SavedModel signature so LiteRT's signature
runner addresses tensors by name, not by fragile index order. Its time axis is
left open: serving runs one chunk at a time, and the evaluation runs the very
same file over a whole utterance to check that both give the same text. The
dynamic-range int8 variant is converted from the frame-row form of the graph
(``training.frame_rows``), whose int8 rounding does not depend on the chunking.
"""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path

import numpy as np

from dsp.features import FeatureConfig
from models.text import VOCABULARY
from training.model import CausalStack, ModelConfig, build_streaming_model
from training.report import adapt_sections

VARIANTS = {
    "no_opti": "model_no_opti.tflite",
    "default": "model_default.tflite",
    "float16": "model_float16.tflite",
    "experimental": "model_experimental.tflite",
}


def _signature(stack: CausalStack) -> list:
    """Features with an open time axis, then the caches: the inputs of every exported variant."""
    import tensorflow as tf

    c = stack.config
    specs = [tf.TensorSpec((1, None, c.n_mels), tf.float32, name="features")]
    return specs + [tf.TensorSpec((1, *shape), tf.float32, name=f"cache{i}")
                    for i, shape in enumerate(stack.cache_shapes())]


def _frozen(step) -> object:
    """The step's concrete function with weights as constants.

    Otherwise the converter keeps resource variables and READ_VARIABLE ops,
    which break calibration and slow every invoke.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    return convert_variables_to_constants_v2(step.get_concrete_function())


def streaming_functions(stack: CausalStack) -> tuple:
    """The Keras streaming graph and its frame-row form, frozen, with the Keras model that owns the weights."""
    import tensorflow as tf

    from training.frame_rows import FrameRowGraph

    stream_model = build_streaming_model(stack)

    def keras_step(features, *caches):
        # A tuple, not a dict: freezing renames outputs to output_0..N in this order.
        return tuple(stream_model([features, *caches], training=False))

    specs = _signature(stack)
    keras_graph = _frozen(tf.function(keras_step, input_signature=specs))
    row_graph = _frozen(tf.function(FrameRowGraph(stack).step, input_signature=specs))
    return keras_graph, row_graph, stream_model


def representative_chunks(stack: CausalStack, feature_sets: list[np.ndarray], limit: int = 300):
    """Real feature chunks with their real caches, for int16/int8 calibration."""
    from training.streaming import run_keras_stream_chunks

    def generator():
        produced = 0
        for features in feature_sets:
            for inputs, _ in run_keras_stream_chunks(stack, features):
                yield inputs
                produced += 1
                if produced >= limit:
                    return

    return generator


def convert_variants(stack: CausalStack, out_dir: Path, calibration: list[np.ndarray]) -> dict[str, Path]:
    import tensorflow as tf

    keras_graph, row_graph, stream_model = streaming_functions(stack)
    paths = {}
    for variant, filename in VARIANTS.items():
        # Only the dynamic-range variant needs the frame-row form; the others keep the
        # convolution kernels, whose rounding (float, or int16 with fixed scales) ignores chunking.
        graph = row_graph if variant == "default" else keras_graph
        converter = tf.lite.TFLiteConverter.from_concrete_functions([graph], stream_model)
        if variant == "default":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        elif variant == "float16":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.target_spec.supported_types = [tf.float16]
        elif variant == "experimental":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative_chunks(stack, calibration)
            converter.target_spec.supported_ops = [
                tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
            ]
        path = out_dir / filename
        path.write_bytes(converter.convert())
        paths[variant] = path
    return paths


def model_card(stack: CausalStack, data_card: dict | None, extra: dict | None = None) -> dict:
    c = stack.config
    return {
        "name": "causal-conv-ctc",
        "task": "English speech to text (characters, CTC)",
        "sample_rate": FeatureConfig().sample_rate,
        "features": {"type": "log-mel", **FeatureConfig().to_dict()},
        "model": c.to_dict(),
        "vocabulary": list(VOCABULARY),
        "logits_output": "output_0",
        "blank_index": 0,
        "chunk_frames": c.chunk_frames,
        "output_stride": c.stride,
        "output_frame_seconds": c.stride * FeatureConfig().hop_length / FeatureConfig().sample_rate,
        "state_tensors": [
            {"input": f"cache{i}", "output": f"output_{i + 1}", "shape": [1, *shape]}
            for i, shape in enumerate(stack.cache_shapes())
        ],
        "flush_frames": flush_frames(c),
        "variants": VARIANTS,
        "default_variant": "default",
        "decoder": {"type": "greedy"},
        "data": data_card or {},
        "licence": ("model weights: CC BY-SA 4.0 (trained on FSDD, CC BY-SA 4.0, and public-domain LJSpeech "
                    "text, spoken by espeak-ng, flite, festival, Kokoro-82M (Apache-2.0) and Piper "
                    "en_US-joe-medium (CC0) voices)"),
        **(extra or {}),
    }


def flush_frames(config: ModelConfig) -> int:
    """Feature frames of silence fed at end of stream so delayed CTC emissions come out."""
    return 2 * config.chunk_frames


def _data_stage_time(work_dir: Path) -> dict[str, float]:
    """The work dir's data time travels with the data card merged from it.

    The data stage writes its time into whichever card ``--models-dir`` named
    then, which need not be the card exported now; without this the exported
    card would report another render's time beside this render's data.
    """
    log = work_dir / "timings.json"
    timings = json.loads(log.read_text()) if log.exists() else {}
    return {"data": timings["data"]} if "data" in timings else {}


def run_export(args: Namespace) -> dict:
    from training.train import load_trained_stack
    from training.render import SHARDS_FILE, load_shards, merge_data_cards, with_shards, without_shards

    models_dir: Path = args.models_dir
    stack = load_trained_stack(models_dir)
    calibration, _, _ = load_shards(args.work_dir / "features" / "tune")
    paths = convert_variants(stack, models_dir, calibration[:40])
    data_card_path = args.work_dir / "data_card.json"
    data_card = json.loads(data_card_path.read_text()) if data_card_path.exists() else None
    existing, shards_path = models_dir / "model.json", models_dir / SHARDS_FILE
    keep = {}
    if existing.exists():
        previous = json.loads(existing.read_text())
        sections = ("decoder", "training", "finetune", "normalization", "stage_seconds", *adapt_sections(previous))
        keep = {k: previous[k] for k in sections if k in previous}
        keep["stage_seconds"] = {**keep.get("stage_seconds", {}), **_data_stage_time(args.work_dir)}
        previous_data = previous.get("data", {})
        if shards_path.exists():
            previous_data = with_shards(previous_data, json.loads(shards_path.read_text()))
        data_card = merge_data_cards(previous_data, data_card or {})
    totals, shards = without_shards(data_card or {})
    card = model_card(stack, {**totals, "shards_file": SHARDS_FILE} if shards else totals, keep)
    (models_dir / "model.json").write_text(json.dumps(card, indent=2))
    if shards:
        shards_path.write_text(json.dumps(shards, indent=1))
    for variant, path in paths.items():
        print(f"{variant:13s} {path.stat().st_size / 1e6:6.2f} MB  {path}")
    return card
