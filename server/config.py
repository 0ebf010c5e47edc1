"""Server settings: one dataclass, filled from the command line with environment defaults.

The same parser serves ``python -m server`` (flags) and gunicorn's
``server.wsgi`` (environment only, ``TRANSCRIBER_*``), so the two entrances can
never disagree about a default or a validation rule.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from dsp.vad import VadConfig
from models.registry import DEFAULT_MODELS_DIR

ENV_PREFIX = "TRANSCRIBER_"


@dataclass(frozen=True)
class ServerConfig:
    """Everything the app needs to know; frozen so request threads can share it safely."""

    host: str = "127.0.0.1"
    port: int = 8000
    model: str | None = None  # default variant; None = the model card's default
    models_dir: Path = DEFAULT_MODELS_DIR
    max_upload_mb: float = 50.0
    # Checked while decoding (never trusting a header): without a cap, a few MB of FLAC silence
    # could decode to hours of float32 and exhaust memory. None = no limit (flag value 0).
    max_audio_minutes: float | None = 60.0
    max_streams: int = 16  # concurrent WebSocket streams per process; 0 = unlimited
    max_message_kb: int = 1024  # largest single WebSocket message
    idle_timeout_s: float = 60.0  # a socket silent this long is closed
    threads: int = 1  # TFLite threads per interpreter
    pool_size: int = 4  # interpreters per model variant (concurrent inferences)
    vad_mode: int = VadConfig().aggressiveness  # webrtcvad 0-3: higher drops more noise, and more quiet speech
    api_token: str | None = None  # when set, every API request and stream must present it
    allowed_origins: tuple[str, ...] = ("self",)  # browser Origins a request/stream may come from
    read_timeout_s: float = 30.0  # a connection silent this long while we wait for its request is dropped
    upload_timeout_s: float = 300.0  # a request body must arrive within this (slowloris bodies get 408)
    drain_timeout_s: float = 30.0  # on SIGTERM, how long open streams and requests get to finish
    certfile: Path | None = None  # https for the development server (browsers allow the mic on https)
    keyfile: Path | None = None

    def __repr__(self) -> str:
        # The token must never reach a log line, even through a debug print of the config.
        shown = {name: getattr(self, name) for name in self.__dataclass_fields__}
        if shown["api_token"]:
            shown["api_token"] = "***"
        return "ServerConfig(" + ", ".join(f"{k}={v!r}" for k, v in shown.items()) + ")"

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_audio_seconds(self) -> float | None:
        return None if self.max_audio_minutes is None else self.max_audio_minutes * 60.0

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def _positive(kind: type):
    def convert(text: str):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return convert


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _vad_mode(text) -> int:
    # Not argparse's choices=: those are not checked against an environment default.
    value = int(text)
    if not 0 <= value <= 3:
        raise argparse.ArgumentTypeError(f"webrtcvad modes are 0-3, got {text}")
    return value


def _limit_or_none(text: str) -> float | None:
    """A positive number, or 0 / "none" for no limit."""
    if str(text).strip().lower() in ("", "0", "none", "off"):
        return None
    return _positive(float)(text)


def _origins(text) -> tuple[str, ...]:
    if isinstance(text, tuple):
        return text
    items = tuple(item.strip().rstrip("/") for item in str(text).split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError("give at least one origin, 'self' or '*'")
    for item in items:
        if item not in ("self", "*") and not item.startswith(("http://", "https://")):
            raise argparse.ArgumentTypeError(f"an origin looks like https://host[:port], got {item!r}")
    return items


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Flags with defaults taken from ``TRANSCRIBER_<FLAG>`` environment variables."""
    env = os.environ if env is None else env
    defaults = ServerConfig()

    def default(name: str, fallback):
        return env.get(ENV_PREFIX + name.upper(), fallback)

    parser = argparse.ArgumentParser(prog="python -m server", description="Offline speech-to-text server.")
    net = parser.add_argument_group("network")
    net.add_argument("--host", default=default("host", defaults.host))
    net.add_argument("--port", type=int, default=default("port", defaults.port))
    model = parser.add_argument_group("model")
    model.add_argument("--model", default=default("model", None), help="default variant (see GET /api/models)")
    model.add_argument("--models-dir", type=Path, default=default("models_dir", defaults.models_dir))
    model.add_argument("--threads", type=_positive(int), default=default("threads", defaults.threads),
                       help="TFLite threads per interpreter")
    model.add_argument("--pool-size", type=_positive(int), default=default("pool_size", defaults.pool_size),
                       help="interpreters per variant, i.e. concurrent inferences")
    model.add_argument("--vad-mode", type=_vad_mode, metavar="0-3", default=default("vad_mode", defaults.vad_mode),
                       help=f"webrtcvad aggressiveness 0-3 (default {defaults.vad_mode}; 2 or 3 split speech in loud steady noise "
                            "sooner, but miss more quiet speech)")
    limits = parser.add_argument_group("limits")
    limits.add_argument("--max-upload-mb", type=_positive(float), default=default("max_upload_mb", defaults.max_upload_mb))
    limits.add_argument("--max-audio-minutes", type=_limit_or_none,
                        default=default("max_audio_minutes", defaults.max_audio_minutes),
                        help="longest decoded upload (default 60; 0 = no limit)")
    limits.add_argument("--max-streams", type=_non_negative_int, default=default("max_streams", defaults.max_streams),
                        help="concurrent WebSocket streams; 0 = unlimited")
    limits.add_argument("--max-message-kb", type=_positive(int), default=default("max_message_kb", defaults.max_message_kb))
    limits.add_argument("--idle-timeout-s", type=_positive(float), default=default("idle_timeout_s", defaults.idle_timeout_s))
    limits.add_argument("--read-timeout-s", type=_positive(float), default=default("read_timeout_s", defaults.read_timeout_s),
                        help="drop a connection that sends nothing for this long while a request is expected")
    limits.add_argument("--upload-timeout-s", type=_positive(float),
                        default=default("upload_timeout_s", defaults.upload_timeout_s),
                        help="a request body slower than this gets 408 (slow-upload attacks)")
    limits.add_argument("--drain-timeout-s", type=_positive(float), default=default("drain_timeout_s", defaults.drain_timeout_s),
                        help="on SIGTERM, how long open streams and requests get to finish")
    security = parser.add_argument_group("security")
    security.add_argument("--api-token", default=default("api_token", None),
                          help="require 'Authorization: Bearer TOKEN' (or ?token= on the WebSocket); "
                               "prefer TRANSCRIBER_API_TOKEN, flags show up in ps")
    security.add_argument("--allowed-origins", type=_origins, default=default("allowed_origins", "self"),
                          help="comma-separated browser origins allowed to call the API and open streams; "
                               "'self' = the server's own origin (default), '*' = any")
    security.add_argument("--certfile", type=Path, default=default("certfile", None), help="serve https with this certificate")
    security.add_argument("--keyfile", type=Path, default=default("keyfile", None), help="the certificate's private key")
    return parser


def parse_config(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> ServerConfig:
    """Flags override environment, environment overrides the dataclass defaults."""
    # argparse runs `type` on string defaults too, so bad environment values fail like bad flags.
    parser = build_parser(env)
    args = parser.parse_args(argv)
    values = {k: v for k, v in vars(args).items() if k in ServerConfig.__dataclass_fields__}
    values["api_token"] = values["api_token"] or None
    if (values["certfile"] is None) != (values["keyfile"] is None):
        parser.error("--certfile and --keyfile go together")
    return ServerConfig(**values)


def config_from_env(env: Mapping[str, str] | None = None) -> ServerConfig:
    """For gunicorn: no flags, only ``TRANSCRIBER_*`` variables."""
    return parse_config([], env)
