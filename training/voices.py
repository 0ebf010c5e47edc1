"""Offline synthetic voices: espeak-ng (accents x voice variants), flite, festival, Kokoro and Piper.

Each voice is a function of (text, rng) -> (samples, sample_rate) with its own
random rate/pitch perturbation per utterance, so no two utterances of one voice
sound exactly alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from training import kokoro_voice, piper_voice

ESPEAK_ACCENTS = (
    "en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
# Variants that still sound like speech (the robotic/whisper ones are left out).
ESPEAK_VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee",
    "Mario", "Michael", "Mike", "Storm", "adam", "anika", "aunty", "belinda", "benjamin",
    "boris", "caleb", "david", "ed", "edward", "grandma", "grandpa", "iven", "john", "linda",
    "max", "michel", "norbert", "paul", "pedro", "quincy", "rob", "robert", "steph", "travis",
    "victor", "zac",
)
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
KOKORO_VOICES = 200  # seeded style mixes; see training/kokoro_voice.py
NATURAL_ENGINES = ("kokoro", "piper", "festival", "flite")  # the engines that sound least like a formant synthesizer


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak", "flite", "festival", "kokoro" or "piper"
    name: str

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


def available_voices() -> list[Voice]:
    """Every voice the installed synthesizers can produce."""
    voices: list[Voice] = []
    if shutil.which("espeak-ng"):
        variant_dir = _espeak_variant_dir()
        variants = [v for v in ESPEAK_VARIANTS if variant_dir is None or (variant_dir / v).exists()]
        voices += [Voice("espeak", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in variants]
    if shutil.which("flite"):
        voices += [Voice("flite", v) for v in FLITE_VOICES]
    festival_root = Path("/usr/share/festival/voices")
    if shutil.which("text2wave"):
        voices += [Voice("festival", v) for v in FESTIVAL_VOICES if any(festival_root.glob(f"*/{v}"))]
    if kokoro_voice.available():
        voices += [Voice("kokoro", f"mix{i:03d}") for i in range(KOKORO_VOICES)]
    if piper_voice.available():
        voices += [Voice("piper", name) for name in piper_voice.SHIFTS]
    return voices


def _espeak_variant_dir() -> Path | None:
    for root in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/share", "/usr/lib"):
        path = Path(root) / "espeak-ng-data" / "voices" / "!v"
        if path.is_dir():
            return path
    return None


def synthesize(voice: Voice, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Speak ``text`` with ``voice``; returns float32 mono samples and their rate."""
    if voice.engine == "kokoro":
        return kokoro_voice.synthesize(voice.name, text, rng)
    if voice.engine == "piper":
        return piper_voice.synthesize(voice.name, text, rng)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wav")
        if voice.engine == "espeak":
            cmd = [
                "espeak-ng", "-v", voice.name,
                "-s", str(int(rng.integers(125, 200))),
                "-p", str(int(rng.integers(25, 75))),
                "-g", str(int(rng.integers(0, 6))),
                "-w", out, "--", text,
            ]
        elif voice.engine == "festival":
            script = os.path.join(tmp, "text.txt")
            Path(script).write_text(text)
            cmd = [
                "text2wave", "-o", out, "-eval", f"(voice_{voice.name})",
                "-eval", f"(Parameter.set 'Duration_Stretch {rng.uniform(0.85, 1.25):.2f})", script,
            ]
        else:
            cmd = [
                "flite", "-voice", voice.name,
                "--setf", f"duration_stretch={rng.uniform(0.8, 1.3):.2f}",
                "--setf", f"int_f0_target_mean={rng.uniform(80, 200) if voice.name != 'slt' else rng.uniform(150, 240):.0f}",
                "-t", text, "-o", out,
            ]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        samples, rate = sf.read(out, dtype="float32", always_2d=True)
    return samples.mean(axis=1), rate
