"""Turn item lists into feature shards: synthesize or read, pad, augment, log-mel.

Shards are ``.npz`` files of ``SHARD_SIZE`` items written atomically, so an
interrupted run resumes where it stopped. Features come from ``dsp.features``,
the code the server runs, so training and serving cannot drift apart.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from dsp.features import FeatureConfig, log_mel
from dsp.resample import TARGET_RATE, resample, to_mono
from training.augment import augment, noise, reverb
from training.corpus import NATURAL_TUNE_SPLIT
from training.voices import Voice, synthesize

SHARD_SIZE = 500


def _item_rng(item_id: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(item_id.encode()), seed])


def render_copies(item: dict, rng: np.random.Generator, augmented: bool = True) -> list[tuple[np.ndarray, list[str]]]:
    """``item["copies"]`` (default 1) renderings of one synthesis: 16 kHz, random silence around, augmented.

    Synthesis is the expensive part for Kokoro (about 0.3 CPU-seconds per second
    of audio), so its items are spoken once and augmented several times.
    """
    if item["kind"] == "noise":  # noise only: teaches the model that background is not speech
        length = int(TARGET_RATE * rng.uniform(0.5, 4.0))
        quiet = (rng.standard_normal(length) * 1e-3).astype(np.float32)
        return [(reverb(noise(quiet, rng), rng) * rng.uniform(0.5, 50.0), ["noise_only"])]
    if item["kind"] == "tts":
        engine, name = item["voice"].split(":", 1)
        samples, rate = synthesize(Voice(engine, name), item["text"], rng)
    else:  # fsdd
        samples, rate = sf.read(item["path"], dtype="float32", always_2d=True)
    speech = resample(to_mono(samples), rate, TARGET_RATE)
    renderings = []
    for _ in range(item.get("copies", 1)):
        lead, trail = (int(TARGET_RATE * rng.uniform(0.05, 0.5)) for _ in range(2))
        padded = np.concatenate([np.zeros(lead, np.float32), speech, np.zeros(trail, np.float32)])
        padded += (rng.standard_normal(len(padded)) * 1e-4).astype(np.float32)  # no digital silence
        renderings.append(augment(padded, rng) if augmented else (padded, []))
    return renderings


def _render_one(args: tuple[dict, int, bool, dict]) -> list[tuple[str, str, np.ndarray, list[str], float]]:
    item, seed, augmented, feature_dict = args
    rng = _item_rng(item["id"], seed)
    config = FeatureConfig.from_dict(feature_dict)
    results = []
    for copy, (audio, applied) in enumerate(render_copies(item, rng, augmented)):
        audio = np.clip(audio, -1.0, 1.0)
        features = log_mel(audio, config).astype(np.float16)
        item_id = item["id"] if copy == 0 else f"{item['id']}#{copy}"
        results.append((item_id, item["text"], features, applied, len(audio) / TARGET_RATE))
    return results


def render_shards(items: list[dict], out_dir: Path, config: FeatureConfig, seed: int = 0,
                  augmented: bool = True, workers: int | None = None, desc: str = "render",
                  prefix: str = "shard", first_item: int = 0, skip: frozenset[int] = frozenset()) -> dict:
    """Write ``out_dir/PREFIX-NNNN.npz``; skips shards already written. Returns a data card.

    Shards that end before ``first_item`` (a later adapt cycle's range) and
    the shard numbers in ``skip`` are not rendered, but keep their numbers, so
    rendering them later fills in the same files a full run writes.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = workers or os.cpu_count() or 1
    shards = [items[i : i + SHARD_SIZE] for i in range(0, len(items), SHARD_SIZE)]
    with Pool(workers) as pool:
        for index, shard in enumerate(tqdm(shards, desc=desc, unit="shard")):
            path = out_dir / f"{prefix}-{index:04d}.npz"
            if (index + 1) * SHARD_SIZE <= first_item or index in skip:
                continue
            if path.exists() and _rendered_count(path) == sum(item.get("copies", 1) for item in shard):
                continue  # a short last shard of a list since extended is rendered again, whole
            rendered = pool.map(_render_one, [(item, seed, augmented, config.to_dict()) for item in shard],
                                chunksize=4)
            _write_shard(path, [result for copies in rendered for result in copies])
    return summarize_shards(out_dir)


def _rendered_count(path: Path) -> int:
    with np.load(path) as data:
        return len(data["lengths"])


def _write_shard(path: Path, results: list) -> None:
    ids, texts, features, applied, seconds = zip(*results)
    lengths = np.array([len(f) for f in features], dtype=np.int32)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, features=np.concatenate(features), lengths=lengths, ids=np.array(ids), texts=np.array(texts),
             augmentations=np.array([",".join(a) for a in applied]), seconds=np.array(seconds, dtype=np.float32))
    os.replace(tmp, path)


def load_shards(directory: Path, pattern: str = "shard-*.npz") -> tuple[list[np.ndarray], list[str], list[str]]:
    """All utterances of the shards matching ``pattern`` as (features, texts, ids)."""
    features, texts, ids = [], [], []
    for path in sorted(directory.glob(pattern)):
        if path.name.endswith(".tmp.npz"):
            continue
        data = np.load(path)
        features += np.split(data["features"], np.cumsum(data["lengths"])[:-1])
        texts += [str(t) for t in data["texts"]]
        ids += [str(i) for i in data["ids"]]
    return features, texts, ids


def summarize_shards(directory: Path) -> dict:
    """Hours, utterances, voices and augmentation counts: the data card of one split.

    Each shard's own counts are kept too (``shards``), so that a card can be
    merged with the card of shards rendered in another session (see
    ``merge_data_cards``): a later adapt cycle renders only its own range.
    """
    shards = {}
    for path in sorted(directory.glob("shard-*.npz")):
        if path.name.endswith(".tmp.npz"):
            continue
        with np.load(path) as data:
            kinds = Counter(str(item_id).split("/")[0] for item_id in data["ids"])
            augmentation = Counter(a for applied in data["augmentations"] for a in str(applied).split(",") if a)
            shards[path.name] = {"utterances": len(data["ids"]), "seconds": round(float(data["seconds"].sum()), 1),
                                 "by_kind": dict(kinds), "augmentation_counts": dict(augmentation)}
    voices: set[str] = set()
    for item_file in directory.glob("items*.json"):
        voices |= {i["voice"] for i in json.loads(item_file.read_text()) if "voice" in i}
    return _totals(shards, len(voices))


def _totals(shards: dict[str, dict], voices: int) -> dict:
    kinds: Counter = Counter()
    augmentation: Counter = Counter()
    for shard in shards.values():
        kinds.update(shard["by_kind"])
        augmentation.update(shard["augmentation_counts"])
    return {"utterances": sum(s["utterances"] for s in shards.values()),
            "hours": round(sum(s["seconds"] for s in shards.values()) / 3600, 2), "by_kind": dict(kinds),
            "voices": voices, "augmentation_counts": dict(augmentation), "shards": shards}


SHARDS_FILE = "data_shards.json"  # beside models/model.json: the per-shard counts behind its data totals


def without_shards(card: dict) -> tuple[dict, dict]:
    """A data card's totals, and its per-shard counts by split.

    The counts run to a thousand lines; they live in a file of their own so
    the model card stays readable, and only export needs them (to add up).
    """
    totals = {k: ({key: v for key, v in value.items() if key != "shards"} if isinstance(value, dict) else value)
              for k, value in card.items()}
    shards = {k: value["shards"] for k, value in card.items() if isinstance(value, dict) and "shards" in value}
    return totals, shards


def with_shards(card: dict, shards: dict) -> dict:
    """The inverse of :func:`without_shards`."""
    return {k: ({**value, "shards": shards[k]} if k in shards and isinstance(value, dict) else value)
            for k, value in card.items()}


def merge_data_cards(previous: dict, current: dict) -> dict:
    """The data a model was trained on across sessions: every shard either card saw, the current one's winning.

    A shard's name fixes its items and seeds, so the same name rendered in two
    sessions holds the same utterances.
    """
    merged = {**previous, **current}
    for split in ("train", "tune", NATURAL_TUNE_SPLIT):
        old, new = previous.get(split, {}), current.get(split, {})
        if "shards" in old or "shards" in new:
            merged[split] = _totals({**old.get("shards", {}), **new.get("shards", {})},
                                    max(old.get("voices", 0), new.get("voices", 0)))
    return merged
