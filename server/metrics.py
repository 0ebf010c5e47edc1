"""Prometheus text-format metrics, kept in-process without a client library.

A handful of counters, one gauge and one histogram do not justify a
dependency; this module renders the exposition format (version 0.0.4)
directly. Values are per process: under gunicorn with several workers each
worker reports its own, which is why the default configuration runs one
worker with many threads.
"""

from __future__ import annotations

import threading
from collections import defaultdict

RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape(value)}"' for key, value in pairs) + "}"


class Metrics:
    """Thread-safe counters for requests, audio, real-time factor and streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple, int] = defaultdict(int)
        self._audio_seconds: dict[str, float] = defaultdict(float)
        self._processing_seconds: dict[str, float] = defaultdict(float)
        self._rtf_buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(RTF_BUCKETS))
        self._rtf_count: dict[str, int] = defaultdict(int)
        self._rtf_sum: dict[str, float] = defaultdict(float)
        self._streams: dict[str, int] = defaultdict(int)
        self._active_streams = 0
        self.model_loaded = 0

    def request(self, route: str, method: str, status: int) -> None:
        with self._lock:
            self._requests[(route, method, str(status))] += 1

    def transcribed(self, source: str, audio_seconds: float, processing_seconds: float) -> None:
        """One upload or stream done: adds its audio, its compute time and its real-time factor."""
        with self._lock:
            self._audio_seconds[source] += audio_seconds
            self._processing_seconds[source] += processing_seconds
            if audio_seconds > 0:
                rtf = processing_seconds / audio_seconds
                buckets = self._rtf_buckets[source]
                for i, bound in enumerate(RTF_BUCKETS):
                    if rtf <= bound:
                        buckets[i] += 1
                self._rtf_count[source] += 1
                self._rtf_sum[source] += rtf

    def stream_opened(self) -> None:
        with self._lock:
            self._active_streams += 1

    def stream_closed(self, outcome: str) -> None:
        with self._lock:
            self._active_streams -= 1
            self._streams[outcome] += 1

    def stream_refused(self, outcome: str) -> None:
        with self._lock:
            self._streams[outcome] += 1

    @property
    def active_streams(self) -> int:
        return self._active_streams

    def render(self) -> str:
        with self._lock:
            lines = [
                "# HELP transcriber_http_requests_total HTTP requests by route, method and status.",
                "# TYPE transcriber_http_requests_total counter",
            ]
            for (route, method, status), n in sorted(self._requests.items()):
                lines.append(f"transcriber_http_requests_total"
                             f"{_labels((('route', route), ('method', method), ('status', status)))} {n}")
            lines += ["# HELP transcriber_audio_seconds_total Seconds of audio transcribed.",
                      "# TYPE transcriber_audio_seconds_total counter"]
            for source in ("upload", "stream"):
                lines.append(f"transcriber_audio_seconds_total{_labels((('source', source),))} "
                             f"{self._audio_seconds[source]:.3f}")
            lines += ["# HELP transcriber_processing_seconds_total Wall-clock seconds spent transcribing.",
                      "# TYPE transcriber_processing_seconds_total counter"]
            for source in ("upload", "stream"):
                lines.append(f"transcriber_processing_seconds_total{_labels((('source', source),))} "
                             f"{self._processing_seconds[source]:.3f}")
            lines += ["# HELP transcriber_real_time_factor Processing time divided by audio duration.",
                      "# TYPE transcriber_real_time_factor histogram"]
            for source in ("upload", "stream"):
                buckets = self._rtf_buckets[source]
                for bound, n in zip(RTF_BUCKETS, buckets):
                    lines.append(f"transcriber_real_time_factor_bucket"
                                 f"{_labels((('source', source), ('le', f'{bound:g}')))} {n}")
                lines.append(f"transcriber_real_time_factor_bucket{_labels((('source', source), ('le', '+Inf')))} "
                             f"{self._rtf_count[source]}")
                lines.append(f"transcriber_real_time_factor_sum{_labels((('source', source),))} "
                             f"{self._rtf_sum[source]:.6f}")
                lines.append(f"transcriber_real_time_factor_count{_labels((('source', source),))} "
                             f"{self._rtf_count[source]}")
            lines += ["# HELP transcriber_active_streams WebSocket streams open now.",
                      "# TYPE transcriber_active_streams gauge",
                      f"transcriber_active_streams {self._active_streams}",
                      "# HELP transcriber_streams_total WebSocket streams by how they ended.",
                      "# TYPE transcriber_streams_total counter"]
            for outcome, n in sorted(self._streams.items()):
                lines.append(f"transcriber_streams_total{_labels((('outcome', outcome),))} {n}")
            lines += ["# HELP transcriber_model_loaded 1 when the default model is loaded.",
                      "# TYPE transcriber_model_loaded gauge",
                      f"transcriber_model_loaded {self.model_loaded}"]
        return "\n".join(lines) + "\n"
