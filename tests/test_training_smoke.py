"""The whole training pipeline on tiny data: data, a few steps, fine-tune, adapt, four TFLite variants, LM.

This is the CI stand-in for ``python -m training all``: it runs the real
command line, then loads every exported variant with ai-edge-litert and checks
that the TFLite model run chunk by chunk computes what Keras computes over the
whole utterance at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO

pytest.importorskip("tensorflow", reason="training requirements (training/requirements.txt) not installed")


def _run(*args: str, work: Path, models: Path) -> str:
    cmd = [sys.executable, "-m", "training", *args, "--work-dir", str(work), "--models-dir", str(models)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, shared_data) -> tuple[Path, Path]:
    """(work dir, models dir) after every stage; the natural set grows between two data runs, two adapt cycles."""
    if not shutil.which("espeak-ng") and not shutil.which("flite"):
        pytest.fail("no speech synthesizer: install espeak-ng and flite (the test command does)")
    work = tmp_path_factory.mktemp("work")
    models = tmp_path_factory.mktemp("models")
    common = ["--shared", str(shared_data)]
    data = ["--tts-utterances", "24", "--fsdd-copies", "0", "--noise-utterances", "4", "--tune-utterances", "8",
            "--natural-copies", "2"]
    _run("data", *common, *data, "--natural-utterances", "6", work=work, models=models)
    _run("train", *common, "--channels", "32", "--blocks", "2", "--max-steps", "4", "--batch-frames", "6000",
         work=work, models=models)
    _run("finetune", *common, "--max-steps", "2", "--batch-frames", "6000", work=work, models=models)
    cycles = ["--natural-utterances", "6", "4:8", "--adapt-minutes", "1", "1"]
    _run("data", *common, *data, *cycles, work=work, models=models)
    _run("adapt", *common, *cycles, "--adapt-fsdd-repeats", "3", "--max-steps", "2", "--batch-frames", "6000",
         "--adapt-blocks", "0", "3", "--adapt-level-drop-db", "0", "20", "--adapt-warp", "0", "0.1",
         work=work, models=models)  # the second cycle deepens the 2-block model, trains on quieter levels and warps
    _run("export", *common, work=work, models=models)
    _run("lm", *common, "--tune-utterances", "4", "--general-lm-shares", "0", "0.5", "--general-bigrams", "20000",
         work=work, models=models)
    return work, models


@pytest.fixture(scope="module")
def trained(pipeline) -> Path:
    return pipeline[1]


def test_a_longer_natural_list_extends_the_rendered_set(pipeline):
    work, _ = pipeline
    items = json.loads((work / "features" / "train" / "items-natural.json").read_text())
    assert [i["id"] for i in items] == [f"natural/{n:05d}" for n in range(8)]
    with np.load(work / "features" / "train" / "shard-natural-0000.npz") as shard:
        rendered = [str(i) for i in shard["ids"]]
    assert len(rendered) == 16  # the short shard of 6 items was rendered again, whole, 2 copies each
    assert sorted({i.split("#")[0] for i in rendered}) == [i["id"] for i in items]


def test_each_adapt_cycle_trains_on_its_range_of_the_natural_set_and_keeps_its_own_record(trained: Path):
    card = json.loads((trained / "model.json").read_text())
    first, second = card["adapt"], card["adapt2"]
    assert first["history"] and second["history"]
    assert first["utterances"] - second["utterances"] == 4  # items 0..5 against 4..7, two renderings each
    assert first["natural_items"] == [0, 6] and second["natural_items"] == [4, 8]
    assert first["fsdd_repeats"] == second["fsdd_repeats"] == 3  # one value carries on to every cycle
    assert "blocks" not in first  # 0: the first cycle kept the depth it was given
    assert "level_drop_db" not in first and second["level_drop_db"] == 20
    assert "warp" not in first and second["warp"] == 0.1
    assert second["blocks"] == card["model"]["blocks"] == 3  # exported and streamed below


def test_an_adapt_cycle_resumes_only_a_checkpoint_of_the_same_mix(pipeline, tmp_path, shared_data):
    """A cycle rerun with another range must not continue the old run's weights under the same name."""
    work, models = shutil.copytree(pipeline[0], tmp_path / "work"), shutil.copytree(pipeline[1], tmp_path / "models")
    common = ["--shared", str(shared_data), "--adapt-cycle", "2", "--max-steps", "2", "--batch-frames", "6000",
              "--adapt-minutes", "1", "1", "--adapt-fsdd-repeats", "3", "--adapt-blocks", "3",
              "--adapt-level-drop-db", "0", "20", "--adapt-warp", "0", "0.1"]
    same = _run("adapt", *common, "--natural-utterances", "6", "4:8", work=work, models=models)
    assert "resuming" in same and "starting over" not in same
    other = _run("adapt", *common, "--natural-utterances", "6", "5:8", work=work, models=models)
    assert "starting over" in other
    slower = _run("adapt", *common, "--natural-utterances", "6", "5:8", "--adapt-learning-rate", "1e-4",
                  work=work, models=models)
    assert "starting over" in slower  # same mix, another peak rate
    louder = _run("adapt", *common, "--natural-utterances", "6", "5:8", "--adapt-learning-rate", "1e-4",
                  "--adapt-level-drop-db", "0", work=work, models=models)
    assert "starting over" in louder  # same mix and rate, without the level augmentation
    unwarped = _run("adapt", *common, "--natural-utterances", "6", "5:8", "--adapt-learning-rate", "1e-4",
                    "--adapt-level-drop-db", "0", "--adapt-warp", "0", work=work, models=models)
    assert "starting over" in unwarped  # and without the warp
    assert json.loads((models / "model.json").read_text())["adapt2"]["natural_items"] == [5, 8]


def test_the_lm_stage_can_rebuild_the_lm_and_keep_the_shipped_beam_settings(pipeline, tmp_path, shared_data):
    """``--keep-decoder`` reproduces a card whose settings were tuned earlier than its last adapt cycle."""
    work, models = pipeline[0], shutil.copytree(pipeline[1], tmp_path / "models")
    card_path = models / "model.json"
    card = json.loads(card_path.read_text())
    pinned = {"lm_weight": 2.0, "word_score": -2.0, "blank_penalty": 2.0, "beam_size": 512, "beam_size_token": 6}
    card["decoder"].update(pinned)
    card_path.write_text(json.dumps(card))
    (models / "lm.arpa").unlink()
    _run("lm", "--shared", str(shared_data), "--keep-decoder", "--general-lm-shares", "0.5",
         "--general-bigrams", "20000", work=work, models=models)
    decoder = json.loads(card_path.read_text())["decoder"]
    assert {k: decoder[k] for k in pinned} == pinned
    assert decoder["general_share"] == 0.5 and "20000 most frequent in-lexicon bigrams" in decoder["lm_text"]
    assert [row["general_share"] for row in decoder["general_share_sweep"]] == [0.5]
    assert decoder["tuning_slice"] == card["decoder"]["tuning_slice"]  # the record of where they were tuned stays
    assert decoder["tuning_beam_wer"] == card["decoder"]["tuning_beam_wer"]  # and what they scored then
    for checked in ("checked_greedy_wer", "checked_beam_wer"):  # measured again on this card's model
        assert isinstance(decoder[checked], float) and 0.0 <= decoder[checked] and checked not in card["decoder"]
    assert "ngram 4=" in (models / "lm.arpa").read_text()[:200] and decoder["lm_ngrams"]["4-grams"] > 0
    del card["decoder"]
    card_path.write_text(json.dumps(card))
    cmd = [sys.executable, "-m", "training", "lm", "--keep-decoder", "--shared", str(shared_data),
           "--work-dir", str(work), "--models-dir", str(models)]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0 and "no beam decoder settings to keep" in result.stderr


def test_stage_times_go_to_the_card_once_it_exists_and_to_the_work_dir_always(pipeline):
    """The card ships and keeps every stage's latest time; the work dir holds those run before the card existed."""
    work, models = pipeline
    card = json.loads((models / "model.json").read_text())
    assert {"export", "lm"} <= card["stage_seconds"].keys()
    log = json.loads((work / "timings.json").read_text())
    assert {"data", "train", "finetune", "adapt", "export", "lm"} <= log.keys()


def test_export_carries_the_data_time_of_the_work_dir_it_merges(pipeline, tmp_path, shared_data):
    """A card exported from another models dir reports this work dir's render, not the one it was copied with."""
    work, models = shutil.copytree(pipeline[0], tmp_path / "work"), shutil.copytree(pipeline[1], tmp_path / "models")
    card_path = models / "model.json"
    card = json.loads(card_path.read_text())
    card["stage_seconds"]["data"] = 123456.0  # an older render's time, as a copied card carries it
    card_path.write_text(json.dumps(card))
    _run("export", "--shared", str(shared_data), work=work, models=models)
    rendered = json.loads((work / "timings.json").read_text())["data"]
    assert json.loads(card_path.read_text())["stage_seconds"]["data"] == rendered != 123456.0


def test_adapt_cycles_and_budgets_must_pair_up():
    cmd = [sys.executable, "-m", "training", "adapt", "--natural-utterances", "6", "8", "--adapt-minutes", "1"]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "one value per adapt cycle" in result.stderr


def test_exports_all_artifacts(trained: Path):
    for name in ("normal_model.h5", "normal_model.keras", "model.json", "lm.arpa", "model_no_opti.tflite",
                 "model_default.tflite", "model_float16.tflite", "model_experimental.tflite"):
        assert (trained / name).is_file(), name
    card = json.loads((trained / "model.json").read_text())
    assert card["decoder"]["type"] == "beam"
    decoder = card["decoder"]  # the beam is the best the tuning slice found within the search budget
    sweep = decoder["beam_sweep"]
    fitting = [row for row in sweep if row["rtf"] <= decoder["beam_rtf_budget"]] or sweep[:1]
    chosen = (decoder["beam_size"], decoder["beam_size_token"])
    assert chosen in [(row["beam_size"], row["beam_size_token"]) for row in fitting]
    # tuned on the natural voices' held-out slice, which the data stage renders beside the base one
    assert decoder["tuning_slice"] == "tune-natural" and "natural-voice" in decoder["tuned_on"]
    assert card["data"]["tune-natural"]["utterances"] == 8
    assert decoder["lm_order"] == 4 and list(decoder["lm_ngrams"])[-1] == "4-grams"
    assert "ngram 4=" in (trained / "lm.arpa").read_text()[:200]
    assert card["sample_rate"] == 16000 and card["vocabulary"][0] == "<blank>"
    assert "training" in card and "finetune" in card and "adapt" in card
    assert card["data"]["train"]["by_kind"]["natural"] == 16  # 8 natural utterances, 2 renderings each
    shards = json.loads((trained / card["data"]["shards_file"]).read_text())  # kept out of the card, adding up to it
    assert "shards" not in card["data"]["train"]
    assert sum(s["utterances"] for s in shards["train"].values()) == card["data"]["train"]["utterances"]


def test_every_variant_loads_with_litert_and_streams_like_keras(trained: Path, dev_speech):
    from dsp.decode import decode_file
    from dsp.features import log_mel
    from models.registry import ModelRegistry
    from training.model import build_training_model
    from training.train import load_trained_stack

    features = log_mel(decode_file(dev_speech / "speechbrain_tests" / "ASR" / "spk1_snt2.wav"))
    registry = ModelRegistry(trained)
    keras_model = build_training_model(load_trained_stack(trained))
    chunk = registry.card.chunk_frames
    features = features[: len(features) // chunk * chunk]
    whole = np.asarray(keras_model(features[None], training=False))[0]
    for name in registry.names():
        model = registry.get(name)
        chunked = model.run(features)
        assert chunked.shape == whole.shape
        tolerance = 1e-3 if name == "no_opti" else 0.5 * np.abs(whole).max()
        assert np.abs(chunked - whole).max() <= tolerance, name
        # The same file over all frames in one invoke: float and dynamic-range int8 (frame rows) match
        # bit for bit; int16 activations requantize the caches, so they match to a rounding step.
        at_once = model.run_at_once(features)
        rounding = 1e-5 if name != "experimental" else 0.05 * np.abs(at_once).max()
        assert np.abs(chunked - at_once).max() <= rounding, name


def _random_stack(block: str, blocks: int):
    """A small untrained stack of ``block`` design and five chunks of random features."""
    import keras

    from training.model import CausalStack, ModelConfig

    keras.utils.set_random_seed(0)
    stack = CausalStack(ModelConfig(channels=16, blocks=blocks, block=block))
    features = np.random.default_rng(0).standard_normal((5 * stack.config.chunk_frames, 80)).astype(np.float32)
    return stack, features


def _whole_and_chunked(stack, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Logits of the training graph over all frames, and of the streaming graph chunk by chunk."""
    from training.model import build_training_model
    from training.streaming import run_keras_stream_chunks

    whole = np.asarray(build_training_model(stack)(features[None], training=False))[0]
    return whole, np.concatenate([logits for _, logits in run_keras_stream_chunks(stack, features)])


@pytest.mark.parametrize("block", ["postact", "preact"])
def test_streaming_graph_computes_the_training_graph_for_both_block_designs(block: str):
    whole, chunked = _whole_and_chunked(*_random_stack(block, 3))
    np.testing.assert_allclose(chunked, whole, atol=1e-4)


@pytest.mark.parametrize("block", ["postact", "preact"])
def test_the_frame_row_graph_computes_the_training_graph_in_chunks_or_at_once(block: str):
    """The graph the int8 variant is converted from: Keras's function, whatever the chunking."""
    from training.frame_rows import FrameRowGraph
    from training.model import build_training_model

    stack, features = _random_stack(block, 3)
    rng = np.random.default_rng(1)
    for layer in build_training_model(stack).layers:  # trained-looking batch norms, so folding them is tested
        if "bn" in layer.name:
            size = layer.get_weights()[0].shape
            layer.set_weights([rng.uniform(0.5, 1.5, size), rng.normal(0, 0.2, size),
                               rng.normal(0, 0.2, size), rng.uniform(0.5, 2.0, size)])
    whole, _ = _whole_and_chunked(stack, features)
    graph = FrameRowGraph(stack)
    caches = [np.zeros((1, *shape), np.float32) for shape in stack.cache_shapes()]
    np.testing.assert_allclose(np.asarray(graph.step(features[None], *caches)[0])[0], whole, atol=1e-4)
    chunk, pieces = stack.config.chunk_frames, []
    for start in range(0, len(features), chunk):
        logits, *caches = graph.step(features[None, start : start + chunk], *caches)
        pieces.append(np.asarray(logits)[0])
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-4)


@pytest.mark.parametrize("block", ["postact", "preact"])
def test_a_deepened_model_keeps_what_it_computed_and_still_streams(block: str):
    from training.model import deepened

    stack, features = _random_stack(block, 2)
    before, _ = _whole_and_chunked(stack, features)
    grown = deepened(stack, 4)
    assert grown.config.blocks == 4 and len(grown.cache_shapes()) == 5
    after, chunked = _whole_and_chunked(grown, features)
    # new post-activation blocks add a constant 1e-3 per channel (a live ReLU), pre-activation ones nothing
    np.testing.assert_allclose(after, before, atol=0.02 if block == "postact" else 1e-5)
    np.testing.assert_allclose(chunked, after, atol=1e-4)
    with pytest.raises(ValueError, match="grow, not shrink"):
        deepened(grown, 3)
