"""``RESULTS.md``, ``results.json`` and the PNG charts, written from the sections alone.

Nothing is measured here; everything in the report is what the sections
returned, so a rerun rewrites the whole report and nothing stale survives.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from bench.common import Section, fmt

SECTION_ORDER = ("offline", "streaming", "concurrency", "memory", "pi")


def _chart(path: Path, draw) -> str | None:
    """Draw one figure with matplotlib (Agg); a chart that fails must not cost the report."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig = plt.figure(figsize=(8, 4))
    try:
        draw(fig)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        return path.name
    except (ValueError, KeyError, TypeError, IndexError):
        return None
    finally:
        plt.close(fig)


def _offline_chart(data: dict):
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 1, 1)
        rows = data["results"] + ([data["peer"]] if data.get("peer") else [])
        names = [f"{r['system']}\n{r['threads']}t" for r in rows]
        values = [r["rtf_wall"] for r in rows]
        colours = ["#3b7dd8" if r["system"] != "pocketsphinx" else "#999999" for r in rows]
        ax.bar(names, values, color=colours)
        for x, v in enumerate(values):
            ax.annotate(fmt(v, 3), (x, v), ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("real-time factor (wall, lower is faster)")
        ax.set_title("Offline speed per variant and thread count, pocketsphinx in grey", fontsize=10)
    return draw


def _concurrency_chart(data: dict):
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 1, 1)
        levels = data["levels"]
        xs = [l["streams"] for l in levels]
        for q, label in ((50, "median"), (95, "p95"), (100, "max")):
            ys = [float(np.percentile(l["stats"]["eos_to_final"], q)) * 1000 if l["stats"]["eos_to_final"]
                  else float("nan") for l in levels]
            ax.plot(xs, ys, marker="o", label=label)
        ax.axhline(1000, color="red", linestyle="--", label="1 s limit")
        ax.set_xlabel("concurrent real-time streams (plus uploads)")
        ax.set_ylabel("end of speech → final (ms)")
        ax.legend(fontsize=8)
        ax.set_title("Final latency as streams are added", fontsize=10)
    return draw


def _memory_chart(data: dict):
    def draw(fig) -> None:
        ax = fig.add_subplot(1, 1, 1)
        trace = data["trace"]
        ax.plot([a / 60 for a, _ in trace], [r for _, r in trace], marker=".", linestyle="-")
        ax.axhline(150, color="red", linestyle="--", label="150 MB target")
        ax.set_xlabel("audio streamed on one WebSocket (minutes)")
        ax.set_ylabel("server worker RSS (MB)")
        ax.set_ylim(0, max([r for _, r in trace if r == r] + [150.0]) * 1.15)
        ax.legend(fontsize=8)
        ax.set_title("Server memory across one long stream", fontsize=10)
    return draw


def write_charts(out_dir: Path, sections: dict[str, Section]) -> None:
    makers = {"offline": ("offline_rtf.png", _offline_chart),
              "concurrency": ("concurrency_latency.png", _concurrency_chart),
              "memory": ("memory_long_stream.png", _memory_chart)}
    for key, (name, maker) in makers.items():
        section = sections.get(key)
        if section is None or section.error or not section.data:
            continue
        written = _chart(out_dir / name, maker(section.data))
        if written:
            section.charts.append(written)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(sections: dict[str, Section], context: dict) -> str:
    lines = ["# Benchmark results", "",
             f"Written by `{context['command']}` on {context['date']} in {context['seconds']:.0f} s.", "",
             f"- Machine: {context['machine']}",
             f"- Models: `{context['models_dir']}` (variants {', '.join(context['variants']) or 'n/a'}; "
             f"default `{context['default']}`, {context['size_mb']} MB)",
             f"- Audio: `{context['data']}/speech/dev` (real recordings: LJSpeech, SpeechBrain test clips, "
             "misc fixtures)",
             f"- Server: {context['server']}",
             f"- Load average before the run: {context['load']} ({context['load_note']})", ""]
    if context.get("warning"):
        lines += [f"> **{context['warning']}**", ""]
    targets = [t for key in SECTION_ORDER if key in sections for t in sections[key].targets]
    lines += ["## Targets", "", "| Target | Goal | Measured | Met |", "|---|---|---|---|"]
    for t in targets:
        met = "n/a (not judged)" if t.met is None else ("yes" if t.met else "**no**")
        lines.append(f"| {_cell(t.name)} | {_cell(t.goal)} | {_cell(t.measured)} | {met} |")
    lines.append("")
    for key in SECTION_ORDER:
        section = sections.get(key)
        if section is None:
            continue
        lines += [f"## {section.title}", ""]
        if section.error:
            lines += [f"**This section failed:** `{_cell(section.error)}`", ""]
        if section.rows:
            lines += ["| Measurement | Value | Beside peer / target | How measured |", "|---|---|---|---|"]
            for row in section.rows:
                lines.append(f"| {_cell(row.metric)} | {_cell(row.value)} | {_cell(row.ratio)} | {_cell(row.how)} |")
            lines.append("")
        for note in section.notes:
            lines += [f"- {note}"]
        if section.notes:
            lines.append("")
        for chart in section.charts:
            lines += [f"![{section.title}]({chart})", ""]
    return "\n".join(lines)


def write_report(out_dir: Path, sections: dict[str, Section], context: dict) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_charts(out_dir, sections)
    path = out_dir / "RESULTS.md"
    path.write_text(render(sections, context))
    raw = {key: {"data": s.data, "error": s.error, "targets": [t.__dict__ for t in s.targets]}
           for key, s in sections.items()}
    (out_dir / "results.json").write_text(json.dumps({"context": context, "sections": raw}, indent=1, default=str))
    return path


def now() -> str:
    return dt.datetime.now().strftime("%Y-%m-%d %H:%M")
