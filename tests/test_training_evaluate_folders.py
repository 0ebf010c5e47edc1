"""The report splits dev WER by source folder, so the book's read speech and the other recordings are told apart."""

from __future__ import annotations

import numpy as np

from training.evaluate import Clip, SystemResult, wer_by_folder
from training.report import _folder_table


def _clip(name: str, reference: str) -> Clip:
    return Clip(name, reference, np.zeros(160, np.float32))


def test_each_folder_is_pooled_on_its_own_words() -> None:
    clips = [_clip("ljspeech_coqui/wavs/a.wav", "the press printed"), _clip("ljspeech_coqui/wavs/b.wav", "a book"),
             _clip("misc_fixtures/jfk.wav", "ask not what your country can do")]
    hypotheses = ["the press printed", "a look", "ask what your country can do for"]
    by_folder = wer_by_folder(clips, hypotheses)
    assert list(by_folder) == ["ljspeech_coqui", "misc_fixtures"]
    assert by_folder["ljspeech_coqui"] == 1 / 5  # one substitution in five words, pooled over both clips
    assert by_folder["misc_fixtures"] == 2 / 7  # one deletion, one insertion


def test_the_report_table_has_a_row_per_folder_and_a_column_per_system() -> None:
    default = SystemResult("default", dev_by_folder={"ljspeech_coqui": 0.5521, "misc_fixtures": 0.7})
    other = SystemResult("no_opti", dev_by_folder={"ljspeech_coqui": 0.1})
    reference = SystemResult("pocketsphinx", dev_by_folder={"ljspeech_coqui": 0.2, "misc_fixtures": 0.35})
    lines = _folder_table([other, default], reference, "default")
    assert lines[2] == "| folder | `default` | pocketsphinx |"
    assert "| ljspeech_coqui | 0.552 | 0.200 |" in lines and "| misc_fixtures | 0.700 | 0.350 |" in lines
    assert _folder_table([SystemResult("default")], None, "default") == []  # older results carry no split
