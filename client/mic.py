"""``python -m client.mic``: headless microphone transcription, for a Pi in a room.

Captures from ``--device`` (PortAudio), resamples to 16 kHz mono, and either
streams to a server (``--server ws://HOST:PORT``) or transcribes in-process
(``--local``). Each final transcript is one line on stdout (``--json`` for JSON
lines with timestamps), optionally appended to ``--output FILE.jsonl`` and
POSTed to ``--webhook URL``. Logs go to stderr (the journal under systemd).

SIGTERM / SIGINT stop the capture, flush what was said (eof, wait for the last
final) and exit 0, so ``systemctl stop`` never cuts off the last sentence.
Exit 2 means a setting is wrong (bad arguments, model cannot load, server
refuses the model); systemd's ``Restart=on-failure`` then retries.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from client.audioqueue import AudioQueue
from client.outputs import JsonlFileSink, Outputs, StdoutSink, WebhookSink

log = logging.getLogger("client.mic")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m client.mic", description=__doc__.splitlines()[0])
    src = parser.add_argument_group("microphone")
    src.add_argument("--device", default=os.environ.get("TRANSCRIBER_MIC_DEVICE"),
                     help="input device index, exact name or unique part of its name (default: system default)")
    src.add_argument("--list-devices", action="store_true", help="list input devices and exit")
    src.add_argument("--rate", type=int, default=None,
                     help="capture rate in Hz (default: 16000 if the device takes it, else its default rate)")
    src.add_argument("--gain-db", type=float, default=float(os.environ.get("TRANSCRIBER_MIC_GAIN_DB", "0")),
                     help="software gain before the VAD, for quiet microphones without a capture control (clips at full scale)")
    src.add_argument("--retry-seconds", type=float, default=2.0, help="wait between attempts to open the device")
    mode = parser.add_argument_group("transcription (one of)")
    exclusive = mode.add_mutually_exclusive_group()
    exclusive.add_argument("--server", metavar="ws://HOST:PORT", help="stream to a transcription server")
    exclusive.add_argument("--local", action="store_true", help="transcribe in this process")
    mode.add_argument("--token", default=os.environ.get("TRANSCRIBER_TOKEN"),
                      help="bearer token for the server (default: $TRANSCRIBER_TOKEN; keeps it out of `ps`)")
    mode.add_argument("--model", default=None, help="model variant name (default: the server's / card's default)")
    mode.add_argument("--models-dir", type=Path, default=None, help="--local: folder with model.json and .tflite files")
    mode.add_argument("--vad-mode", type=int, choices=range(4), default=None,
                      help="--local: webrtcvad aggressiveness 0-3 (default: dsp/vad.py's, 1; a server has its own)")
    mode.add_argument("--buffer-seconds", type=float, default=120.0,
                      help="audio kept while the server is unreachable; oldest dropped beyond this")
    mode.add_argument("--flush-timeout", type=float, default=20.0, help="seconds to wait for the last final at exit")
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="JSON lines with segment, start, end and wall-clock time")
    out.add_argument("--output", type=Path, metavar="FILE.jsonl", help="also append JSON lines to this file")
    out.add_argument("--webhook", metavar="URL", help="also POST each transcript as JSON to this URL")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _setup_logging(verbose: bool) -> None:
    # journald adds its own timestamps; a terminal gets them from us.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=fmt, stream=sys.stderr)


def _print_devices() -> int:
    from client.capture import list_devices

    try:
        rows = list_devices()
    except Exception as exc:  # noqa: BLE001 - e.g. libportaudio2 missing
        print(f"error: cannot list devices: {exc}", file=sys.stderr)
        return 2
    if not rows:
        print("no input devices found", file=sys.stderr)
    for row in rows:
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['index']:3d}  {row['name']}  ({row['channels']} ch, {row['default_rate']} Hz, {row['hostapi']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    if args.list_devices:
        return _print_devices()
    if not args.server and not args.local:
        print("error: choose --server ws://HOST:PORT or --local", file=sys.stderr)
        return 2

    sinks: list = [StdoutSink(args.json)]
    if args.output:
        sinks.append(JsonlFileSink(args.output))
    if args.webhook:
        sinks.append(WebhookSink(args.webhook))
    outputs = Outputs(sinks)
    audio = AudioQueue(args.buffer_seconds)

    if args.local:
        from client.local import LocalTranscriber
        from models.engine import ModelLoadError
        from models.registry import DEFAULT_MODELS_DIR

        try:
            consumer = LocalTranscriber(audio, outputs, args.models_dir or DEFAULT_MODELS_DIR, args.model,
                                        vad_mode=args.vad_mode)
        except (ModelLoadError, KeyError, OSError) as exc:
            log.error("cannot load model: %s", exc)
            return 2
    else:
        from client.streamer import ServerStreamer

        consumer = ServerStreamer(args.server, audio, outputs, token=args.token, model=args.model,
                                  flush_timeout=args.flush_timeout)

    from client.capture import MicCapture

    stop = threading.Event()
    failure: list[BaseException] = []

    def on_signal(signum: int, _frame) -> None:
        log.info("%s: stopping capture and flushing", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def consume() -> None:
        try:
            consumer.run()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            failure.append(exc)
        finally:
            stop.set()

    capture = MicCapture(audio, args.device, args.rate, retry_s=args.retry_seconds, gain_db=args.gain_db)
    worker = threading.Thread(target=consume, name="transcriber", daemon=True)
    capture.start()
    worker.start()
    while not stop.wait(0.5):
        pass
    capture.stop()
    worker.join(args.flush_timeout + 10)
    outputs.close()
    if failure:
        log.error("%s", failure[0])
        return 2
    if worker.is_alive() or not consumer.finished_cleanly:
        log.warning("exited before every final arrived; see the log above")
    else:
        log.info("flushed; bye")
    return 0


if __name__ == "__main__":
    sys.exit(main())
