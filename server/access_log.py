"""Structured access log: one JSON line per request, with secrets masked.

Why our own instead of Werkzeug's or gunicorn's: both print the raw request
line, query string included, so ``/ws/transcribe?token=...`` would put the
API token in every log. Here the query is re-written with sensitive
parameters masked, headers are never logged (so ``Authorization`` cannot
leak), and each line is JSON a log shipper can parse. WebSocket sessions are
logged once, when they end, as status 101 with the bytes the server sent.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Callable, Iterable, Iterator
from urllib.parse import unquote_plus

ACCESS_LOGGER = "transcriber.access"
SENSITIVE_PARAMS = frozenset({"token", "access_token", "api_key", "apikey", "key", "password", "secret", "auth"})
WEBSOCKET_KEY = "transcriber.websocket"  # environ key the WebSocket view stores its socket under
MAX_LOGGED_PATH = 2000
CLOSERS_KEY = "transcriber.closers"  # response closers a server must call even if the request errored

_SECRET_IN_TEXT = re.compile(r"(?i)((?:^|[?&;\s\"'])(?:token|access_token|api_key|apikey|password|secret)=)[^&\s\"']*")
_BEARER_IN_TEXT = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")


def mask_query(query: str) -> str:
    """The query string with the values of sensitive parameters replaced by ``***``.

    Keys are compared after percent-decoding, because ``%74oken=`` is what a
    server would decode to ``token=`` and accept.
    """
    if not query:
        return ""
    parts = []
    for pair in query.split("&"):
        key, sep, _ = pair.partition("=")
        if unquote_plus(key).strip().lower() in SENSITIVE_PARAMS:
            parts.append(f"{key}=***")
        else:
            parts.append(pair)
    return "&".join(parts)


def mask_text(text: str) -> str:
    """Mask ``token=...`` and ``Bearer ...`` anywhere in free text (for other servers' log lines)."""
    return _BEARER_IN_TEXT.sub(r"\1***", _SECRET_IN_TEXT.sub(r"\1***", text))


class SecretMaskingFilter(logging.Filter):
    """Rewrites records of loggers we do not control (werkzeug, gunicorn) so no token survives."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def configure_access_logger(stream=None) -> logging.Logger:
    """One handler writing bare JSON lines to stderr (idempotent: apps built twice log once)."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not logger.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    for name in ("werkzeug", "gunicorn.error", "gunicorn.access"):
        other = logging.getLogger(name)
        if not any(isinstance(f, SecretMaskingFilter) for f in other.filters):
            other.addFilter(SecretMaskingFilter())
    return logger


class _CountingBody:
    """Passes the response body through, counting bytes, and logs when the server closes it."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[int], None]) -> None:
        self._body = body
        self._on_close = on_close
        self._closed = False
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        if self._closed:  # the dev server's handler closes again if Werkzeug skipped it (server.devserver)
            return
        self._closed = True
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            self._on_close(self.sent)


class AccessLogMiddleware:
    """WSGI middleware: times each request and writes its JSON line once the response is done."""

    def __init__(self, app, logger: logging.Logger | None = None) -> None:
        self.app = app
        self.logger = logger or configure_access_logger()

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        state: dict = {"status": None}

        def _start_response(status: str, headers, exc_info=None):
            state["status"] = status
            return start_response(status, headers, exc_info)

        try:
            body = self.app(environ, _start_response)
        except BaseException:
            # gunicorn ends a WebSocket session by raising StopIteration out of the app.
            self._log(environ, state["status"], started, 0)
            raise
        counted = _CountingBody(body, lambda sent: self._log(environ, state["status"], started, sent))
        environ.setdefault(CLOSERS_KEY, []).append(counted.close)
        return counted

    def _log(self, environ: dict, status: str | None, started: float, sent: int) -> None:
        code = int(status.split(" ", 1)[0]) if status else 0
        ws = environ.get(WEBSOCKET_KEY)
        if ws is not None:
            code, sent = 101, getattr(ws, "bytes_sent", sent)
        path = environ.get("PATH_INFO", "")[:MAX_LOGGED_PATH]
        query = mask_query(environ.get("QUERY_STRING", ""))[:MAX_LOGGED_PATH]
        record = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "remote": environ.get("REMOTE_ADDR", ""),
            "method": environ.get("REQUEST_METHOD", ""),
            "path": path + ("?" + query if query else ""),
            "status": code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "bytes": sent,
            "bytes_in": _int(environ.get("CONTENT_LENGTH")),
            "user_agent": environ.get("HTTP_USER_AGENT", "")[:200],
        }
        try:
            self.logger.info(json.dumps(record, ensure_ascii=True))
        except Exception:  # noqa: BLE001 - logging must never break a response
            pass


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
