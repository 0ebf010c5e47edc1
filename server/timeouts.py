"""Slow-client limits for request bodies: a stall limit and a total deadline.

A slowloris-style upload sends its body a byte at a time, never quite
silent, and holds a server thread for as long as it likes. Two bounds stop it:

* every read of the body may wait at most ``read_timeout`` seconds for data
  (a socket timeout; the dev server sets it on every connection, under gunicorn
  it is set here on the request's socket);
* the whole body must have arrived ``upload_timeout`` seconds after the
  request started, however it trickles.

Either one ends the request with 408 ``request_timeout`` and closes the
connection. Header trickling is the front server's job (nginx
``client_header_timeout``); the development server also bounds it
(:mod:`server.devserver`), and gunicorn drops connections that send nothing.
"""

from __future__ import annotations

import socket
import threading
import time

from werkzeug.exceptions import RequestTimeout


class SlowUpload(RequestTimeout):
    description = "the request body arrived too slowly"


class DeadlineInput:
    """``wsgi.input`` that raises 408 once the deadline passes or a read stalls past the socket timeout.

    Buffered readers loop inside one ``read`` until they have all they asked
    for, so a trickle never returns control between bytes; the deadline is
    therefore a timer that shuts the socket's reading side, which ends the
    blocked read at once (sending the 408 still works).
    """

    def __init__(self, stream, timeout: float, sock: socket.socket | None, expected: int | None) -> None:
        self._stream = stream
        self._sock = sock
        self._expected = expected
        self._received = 0
        self._expired = threading.Event()
        self._timer: threading.Timer | None = None
        if sock is not None:
            self._timer = threading.Timer(timeout, self._expire)
            self._timer.daemon = True
            self._timer.start()
        self._deadline = time.monotonic() + timeout

    def _expire(self) -> None:
        self._expired.set()
        try:
            self._sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def finish(self) -> None:
        """The body is in (or the request is over): the deadline no longer applies."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _check(self) -> None:
        if self._expired.is_set() or time.monotonic() > self._deadline:
            self.finish()
            raise SlowUpload()

    def _call(self, method: str, *args):
        self._check()
        try:
            result = getattr(self._stream, method)(*args)
        except (socket.timeout, TimeoutError):
            self.finish()
            raise SlowUpload() from None
        self._check()
        count = result if isinstance(result, int) else len(result)
        self._received += count
        if count == 0 or (self._expected is not None and self._received >= self._expected):
            self.finish()
        return result

    def read(self, size: int = -1) -> bytes:
        return self._call("read", size)

    def readline(self, size: int = -1) -> bytes:
        return self._call("readline", size)

    def readinto(self, buffer) -> int:
        if hasattr(self._stream, "readinto"):
            return self._call("readinto", buffer)
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)

    def readlines(self, hint: int = -1) -> list[bytes]:
        lines = []
        for line in self:
            lines.append(line)
        return lines

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


def _has_body(environ: dict) -> bool:
    length = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or (length.isdigit() and int(length) > 0)


class BodyDeadlineMiddleware:
    """Gives each request body a deadline; also sets the stall timeout on gunicorn's socket."""

    def __init__(self, app, upload_timeout: float, read_timeout: float) -> None:
        self.app = app
        self.upload_timeout = upload_timeout
        self.read_timeout = read_timeout

    def __call__(self, environ: dict, start_response):
        sock = environ.get("gunicorn.socket")
        if sock is not None:
            try:
                # gunicorn reads bodies with a blocking socket and no timeout; a stalled client
                # would hold the thread for ever. (The WebSocket transport sets its own later.)
                sock.settimeout(self.read_timeout)
            except OSError:
                pass
        if "wsgi.input" not in environ or not _has_body(environ):
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        guarded = DeadlineInput(environ["wsgi.input"], self.upload_timeout,
                                sock or environ.get("werkzeug.socket"), int(length) if length.isdigit() else None)
        environ["wsgi.input"] = guarded
        try:
            return self.app(environ, start_response)
        finally:
            guarded.finish()
