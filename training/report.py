"""Render ``models/REPORT.md`` and ``models/report.png`` from measured results.

Everything in the report comes from the evaluate run that writes it (plus the
data card and training log it reads); an ablation table kept by hand in
``models/ABLATIONS.md`` is copied in verbatim when present.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from training import STAGES
from training.corpus import NATURAL_ERAS


def _fmt(value, digits: int = 3) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:.{digits}f}"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def write_chart(path: Path, results, reference) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = list(results) + ([reference] if reference else [])
    names = [s.name.split(" ")[0] for s in systems]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    panels = [("dev WER (lower is better)", [s.dev_wer for s in systems]),
              ("held-out digits WER", [s.digits_wer for s in systems]),
              ("CPU real-time factor, 1 thread", [s.rtf_path for s in systems])]
    for axis, (title, values) in zip(axes, panels):
        colours = ["#3b7dd8"] * len(results) + (["#999999"] if reference else [])
        axis.bar(names, values, color=colours)
        axis.set_title(title, fontsize=10)
        axis.tick_params(axis="x", rotation=30, labelsize=8)
        for x, v in enumerate(values):
            axis.annotate(_fmt(v), (x, v), ha="center", va="bottom", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(models_dir: Path, results, reference, context: dict) -> Path:
    card = context["card"]
    lines = [
        "# Model report",
        "",
        f"Written by `python -m training evaluate` on {dt.date.today().isoformat()} ({context['machine']}). "
        f"Dev set: `speech/dev`, {context['dev_clips']} utterances, {context['dev_minutes']} min, pooled. "
        f"Digits: the held-out FSDD speaker, {context['digit_clips']} clips. Real-time factors are CPU seconds "
        "per audio second on one thread (process time, so other load on the machine does not inflate them).",
        "",
        "![variants beside pocketsphinx](report.png)",
        "",
        "| system | size (MB) | RTF model only | RTF audio→text | dev WER | dev WER greedy | digits WER "
        "| chunked = whole | chunked = float model |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| `{r.name}` | {_fmt(r.size_mb, 2)} | {_fmt(r.rtf_model, 4)} | {_fmt(r.rtf_path, 4)} | "
                     f"{_fmt(r.dev_wer)} | {_fmt(r.dev_wer_greedy)} | {_fmt(r.digits_wer)} | "
                     f"{_share(r.stream_agreement)} | {_share(r.float_agreement)} |")
    if reference:
        lines.append(f"| {reference.name} | – | – | {_fmt(reference.rtf_path, 4)} | {_fmt(reference.dev_wer)} | – | "
                     f"{_fmt(reference.digits_wer)} | – | – |")
    lines += ["", "WER and RTF use the served path: VAD segmentation, features, the TFLite variant, then the "
              "model card's decoder (\"dev WER greedy\": the same without the language model). "
              "\"chunked = whole\": share of dev utterances whose greedy text from the TFLite variant run "
              "chunk by chunk (with its streaming state, as served) equals the greedy text of the same file run "
              "over the whole utterance in one invoke (the exported graphs leave the time axis open). "
              "\"chunked = float model\": the same chunked text against the float Keras model over the whole "
              "utterance, so it also counts every character that quantization changes.", ""]
    if reference and results:
        default = next((r for r in results if r.name == card.get("default_variant", "default")), results[0])
        lines += ["## Targets", "",
                  f"- default model RTF, model alone: {_fmt(default.rtf_model, 4)} vs pocketsphinx/10 = "
                  f"{_fmt(reference.rtf_path / 10, 4)}",
                  f"- default model RTF, audio to text: {_fmt(default.rtf_path, 4)} vs pocketsphinx/4 = "
                  f"{_fmt(reference.rtf_path / 4, 4)}",
                  f"- default model dev WER {_fmt(default.dev_wer)} vs pocketsphinx {_fmt(reference.dev_wer)}; "
                  f"digits WER {_fmt(default.digits_wer)} (target ≤ 0.05)",
                  f"- `model_default.tflite` size {_fmt(default.size_mb, 2)} MB (target ≤ 15 MB)",
                  "- greedy chunked text = whole-utterance text (target: identical): "
                  + ", ".join(f"`{r.name}` {_share(r.stream_agreement)}" for r in results), ""]
    if results:
        lines += _folder_table(results, reference, card.get("default_variant", "default"))
        lines += ["## Examples (default variant, first dev utterances)", "", "| clip | reference | hypothesis |",
                  "|---|---|---|"]
        default = next((r for r in results if r.name == "default"), results[0])
        lines += [f"| {n} | {ref} | {hyp} |" for n, ref, hyp in default.examples]
        lines.append("")
    lines += _model_section(card, context)
    ablations = models_dir / "ABLATIONS.md"
    if ablations.exists():
        lines += ["", ablations.read_text().strip(), ""]
    path = models_dir / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    write_chart(models_dir / "report.png", results, reference)
    return path


_ORDER_WORDS = {2: "bigram", 3: "trigram"}


def _folder_table(results, reference, default_name: str) -> list[str]:
    """Dev WER per speech/dev folder for the default variant (and pocketsphinx when measured)."""
    default = next((r for r in results if r.name == default_name), results[0])
    if not default.dev_by_folder:
        return []
    systems = [default] + ([reference] if reference and reference.dev_by_folder else [])
    lines = ["## Dev WER by folder", "",
             "| folder | " + " | ".join(f"`{s.name}`" if s is default else s.name for s in systems) + " |",
             "|---" * (len(systems) + 1) + "|"]
    for folder in default.dev_by_folder:
        lines.append(f"| {folder} | " + " | ".join(_fmt(s.dev_by_folder.get(folder)) for s in systems) + " |")
    return lines + [""]


def _decoder_text(decoder: dict) -> str:
    if decoder.get("type") != "beam":
        return "greedy CTC."
    ngrams = decoder.get("lm_ngrams", {})
    return (f"greedy CTC for partials; for finals a lexicon beam search (beam {decoder.get('beam_size')}) with a "
            f"word {_ORDER_WORDS.get(len(ngrams), f'{len(ngrams)}-gram')} LM ({ngrams.get('unigrams')} words, "
            f"{', '.join(f'{n} {name}' for name, n in list(ngrams.items())[1:])}; {decoder.get('lm_text')}), "
            f"LM weight {decoder.get('lm_weight')}, "
            f"word bonus {decoder.get('word_score')} and blank penalty {decoder.get('blank_penalty', 0.0)} (also "
            f"applied to the greedy partials) tuned on {decoder.get('tuned_on')} "
            f"(tuning WER greedy {decoder.get('tuning_greedy_wer', float('nan')):.3f} -> beam "
            f"{decoder.get('tuning_beam_wer', float('nan')):.3f}).{_checked_text(decoder)}{_width_text(decoder)}")


def _checked_text(decoder: dict) -> str:
    """The kept settings measured on the card's own model (``lm --keep-decoder``)."""
    if "checked_beam_wer" not in decoder:
        return ""
    return (f" Kept since then (`lm --keep-decoder`); with this card's acoustic model the same slice scores WER "
            f"{decoder['checked_greedy_wer']:.3f} greedy with the blank penalty, {decoder['checked_beam_wer']:.3f} "
            "with the beam.")


def _width_text(decoder: dict) -> str:
    sweep = decoder.get("beam_sweep")
    if not sweep:
        return ""
    rows = ", ".join(f"{row['beam_size']}×{row.get('beam_size_token', decoder.get('beam_size_token'))}: "
                     f"WER {row['wer']:.3f} at {row['rtf']:.4f} CPU-s per audio-s" for row in sweep)
    return (f" The beam (width × tokens kept per frame: {decoder.get('beam_size')}×{decoder.get('beam_size_token')}) "
            f"is the most accurate on the same slice whose search fits {decoder.get('beam_rtf_budget')} CPU-s per "
            f"audio-s ({rows}; the LM weight and word bonus retuned with that beam).")


def adapt_sections(card: dict) -> list[str]:
    """The card's adapt-cycle records in cycle order: ``adapt`` (cycle 1), ``adapt2``, ..."""
    return sorted((k for k in card if re.fullmatch(r"adapt\d*", k)), key=lambda k: int(k[5:] or 1))


def _training_text(card: dict) -> str:
    parts = []
    cycles = adapt_sections(card)
    sections = [("training", "Main run"), ("finetune", "Fine-tune (real FSDD voices repeated)")]
    sections += [(k, f"Adapt cycle {k[5:] or 1} (natural voices; a new cosine from the model before)")
                 for k in cycles]
    for section, label in sections:
        record = card.get(section, {})
        history = record.get("history", [])
        if history:
            mix = f" on {record['utterances']} utterances" if record.get("utterances") else ""
            if record.get("natural_items"):
                first, end = record["natural_items"]
                mix += f" (natural items {first}–{end - 1})"
            parts.append(f"{label}: {history[-1]['steps']} steps{mix} in {record['seconds'] / 60:.0f} min, peak "
                         f"learning rate {record.get('learning_rate')}, last epoch loss {history[-1]['loss']:.3f}.")
    return " ".join(parts) or "Training record: not in the card."


def _augmentation_text(card: dict) -> str:
    """The adapt cycles that also trained on quieter levels or warped voices (feature augmentation), for the data card."""
    by_option: dict[tuple[str, float], list[str]] = {}
    for section in adapt_sections(card):
        for option in ("level_drop_db", "warp"):
            if card[section].get(option):
                by_option.setdefault((option, card[section][option]), []).append(section[5:] or "1")
    what = {"level_drop_db": "half the utterances up to {:g} dB quieter",
            "warp": "every utterance's frequencies scaled by 1 ± {:g}"}
    return "".join(f"; adapt cycle{'s' if len(cycles) > 1 else ''} {', '.join(cycles)}: "
                   f"{what[option].format(value)} (on the features)" for (option, value), cycles in by_option.items())


def _eras_text() -> str:
    """The natural set's engine shares, era by era (``training.corpus.NATURAL_ERAS``)."""
    eras = []
    for first, weights in NATURAL_ERAS:
        shares = ", ".join(f"{engine.capitalize() if engine in ('kokoro', 'piper') else engine} {weight:.0%}"
                           for engine, weight in weights.items())
        eras.append(f"items from {first}: {shares}")
    return "; ".join(eras)


def _model_section(card: dict, context: dict) -> list[str]:
    model = card.get("model", {})
    data = card.get("data", {})
    train = data.get("train", {})
    timings = context.get("timings", {})
    timings = {stage: timings[stage] for stage in STAGES if stage in timings}
    lines = [
        "## Model", "",
        f"Causal convolutional CTC over characters: a stride-{model.get('stride')} stem convolution then "
        f"{model.get('blocks')} residual blocks (depthwise kernel {model.get('kernel')}, {model.get('channels')} "
        f"channels), {card.get('features', {}).get('n_mels')} log-mel bins every 10 ms, chunks of "
        f"{card.get('chunk_frames')} frames with {len(card.get('state_tensors', []))} cache tensors as explicit "
        f"state. Decoder: {_decoder_text(card.get('decoder', {}))}", "",
        "## Data card", "",
        f"- Training: {train.get('utterances')} utterances, {train.get('hours')} h "
        f"({', '.join(f'{k}: {v}' for k, v in train.get('by_kind', {}).items())}).",
        f"- Voices: {train.get('voices')} synthetic voices ({', '.join(data.get('engines', []))}; espeak-ng: "
        "accents × voice variants; kokoro: seeded mixes of the Kokoro-82M style vectors; piper: en_US-joe-medium "
        "at five spectral shifts; random rate/pitch per utterance) plus 5 real FSDD speakers (speaker `theo` held "
        "out). Base set (train and finetune stages): "
        f"espeak-ng and flite; natural set (`natural`, adapt stage): {_eras_text()}; each utterance spoken once "
        "and augmented three times.",
        f"- Augmentation (utterances per transform): {', '.join(f'{k} {v}' for k, v in train.get('augmentation_counts', {}).items())}; "
        f"random gain on all (peak 0.9 of full scale, then -25 to +3 dB){_augmentation_text(card)}; "
        "SpecAugment during training.",
        "- Never trained on: `speech/dev` (evaluation only) and every 40th LJSpeech sentence (tuning slice).", "",
        "## Reproduce", "",
        "```", "pip install -r training/requirements.txt",
        "python -m training all --keep-decoder  # drop the flag to retune the beam (see the ablations)", "```", "",
        f"Latest wall time of each stage, from the model card (2-core machines like the one above; stages rerun "
        f"in different sessions, some beside other work): "
        f"{', '.join(f'{k} {v / 60:.1f} min' for k, v in timings.items())}. " + _training_text(card),
    ]
    return lines
