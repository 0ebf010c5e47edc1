"""``python -m bench.vad_level``: how input level decides whether a short word opens a VAD segment.

webrtcvad's speech decision depends on loudness. This feeds the held-out FSDD
digits (single words of about 0.35 s, recorded quietly) through the served
segmenter at several gains and counts the recordings for which the start rule
opens a segment while the stream runs, and those kept only by the
end-of-stream rule. It backs the capture-level advice in ``docs/pi.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bench.common import DEFAULT_DATA
from dsp.decode import decode_file
from dsp.vad import SpeechStart, VadSegmenter, whole_frames
from training.corpus import fsdd_items


def opened(samples: np.ndarray) -> tuple[bool, bool]:
    """(opened while streaming, opened at end of stream) for one recording."""
    vad = VadSegmenter()
    events = [event for frame in whole_frames(samples) for event in vad.accept_frame(frame)]
    live = any(isinstance(e, SpeechStart) for e in events)
    return live, live or any(isinstance(e, SpeechStart) for e in vad.flush())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vad_level", description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--gains", type=float, nargs="+", default=[1.0, 2.0, 4.0])
    args = parser.parse_args(argv)
    clips = [decode_file(item["path"]) for item in fsdd_items(args.data, held_out=True)]
    peaks = 20 * np.log10([np.abs(c).max() for c in clips])
    print(f"{len(clips)} held-out FSDD recordings, median peak {np.median(peaks):.1f} dBFS")
    print("gain  peak dBFS  opened mid-stream  opened by end of stream")
    for gain in args.gains:
        results = [opened(np.clip(c * gain, -1.0, 1.0)) for c in clips]
        print(f"{gain:4.1f}  {np.median(peaks) + 20 * np.log10(gain):9.1f}  {sum(r[0] for r in results):17d}  "
              f"{sum(r[1] for r in results):23d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
