"""Where final transcripts go: stdout (text or JSON lines), a JSONL file, a webhook.

Every sink sees the same :class:`Transcript`. The webhook POSTs from its own
thread through a bounded queue, so a slow or dead receiver can never hold up
the audio path; the file is opened per line in append mode, so logrotate and
readers tailing it need no coordination.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Transcript:
    segment: int  # counts up from 0 over the client's whole run (across reconnects)
    text: str
    start: float  # seconds of captured audio since the client started
    end: float
    time: str  # wall-clock UTC when the final arrived, ISO 8601

    @classmethod
    def now(cls, segment: int, text: str, start: float, end: float) -> "Transcript":
        stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return cls(segment, text, round(start, 3), round(end, 3), stamp)

    def json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


class StdoutSink:
    def __init__(self, as_json: bool, stream: TextIO | None = None) -> None:
        self.as_json = as_json
        self.stream = stream or sys.stdout

    def __call__(self, t: Transcript) -> None:
        self.stream.write((t.json() if self.as_json else t.text) + "\n")
        self.stream.flush()


class JsonlFileSink:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, t: Transcript) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(t.json() + "\n")
        except OSError as exc:
            log.error("cannot append to %s: %s", self.path, exc)


class WebhookSink:
    """POST each transcript as JSON; a few retries with backoff, then it is logged and dropped."""

    def __init__(self, url: str, token: str | None = None, retries: int = 3, timeout: float = 5.0,
                 max_pending: int = 1000) -> None:
        self.url = url
        self.token = token
        self.retries = retries
        self.timeout = timeout
        self._queue: queue.Queue[Transcript | None] = queue.Queue(max_pending)
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def __call__(self, t: Transcript) -> None:
        try:
            self._queue.put_nowait(t)
        except queue.Full:
            log.error("webhook %s is too far behind; dropped segment %d", self.url, t.segment)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued (bounded by ``timeout``) before the process exits."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)

    def _run(self) -> None:
        while (t := self._queue.get()) is not None:
            self._post(t)

    def _post(self, t: Transcript) -> None:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = t.json().encode("utf-8")
        for attempt in range(self.retries + 1):
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except (urllib.error.URLError, OSError, ValueError) as exc:
                if attempt == self.retries:
                    log.error("webhook %s failed for segment %d: %s", self.url, t.segment, exc)
                    return
                time.sleep(min(8.0, 0.5 * 2 ** attempt))


class Outputs:
    """Fans a transcript out to every configured sink; one failing sink never stops the others."""

    def __init__(self, sinks: list) -> None:
        self.sinks = sinks

    def __call__(self, t: Transcript) -> None:
        if not t.text:
            return
        for sink in self.sinks:
            try:
                sink(t)
            except Exception:  # noqa: BLE001 - an output bug must not end the capture
                log.exception("output %s failed", type(sink).__name__)

    def close(self) -> None:
        for sink in self.sinks:
            if hasattr(sink, "close"):
                sink.close()
