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
import time

from werkzeug.exceptions import RequestTimeout


class SlowUpload(RequestTimeout):
    description = "the request body arrived too slowly"


class DeadlineInput:
    """``wsgi.input`` that raises 408 once the deadline passes or a read stalls past the socket timeout."""

    def __init__(self, stream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def _check(self) -> None:
        if time.monotonic() > self._deadline:
            raise SlowUpload()

    def _call(self, method: str, *args):
        self._check()
        try:
            result = getattr(self._stream, method)(*args)
        except (socket.timeout, TimeoutError):
            raise SlowUpload() from None
        self._check()
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
        return self._call("readlines", hint)

    def __iter__(self):
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class BodyDeadlineMiddleware:
    """Wraps each request's ``wsgi.input``; also sets the read timeout on gunicorn's socket."""

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
        if "wsgi.input" in environ:
            environ["wsgi.input"] = DeadlineInput(environ["wsgi.input"], time.monotonic() + self.upload_timeout)
        return self.app(environ, start_response)
