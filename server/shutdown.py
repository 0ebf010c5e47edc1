"""Graceful shutdown: on SIGTERM, every open stream gets its finals and ``done`` before the process exits.

A deploy or ``systemctl stop`` must not lose the sentence a user was in the
middle of. :class:`Drain` is the per-process shutdown state: an event the
stream loops poll (they then finish their session, send the finals and
``done``, and close with 1001), a refusal for new streams, and a count of
requests in flight so the process can wait for them.

* Development server: :mod:`server.devserver` stops accepting, waits for the
  in-flight count to reach zero (at most ``--drain-timeout-s``), exits 0.
* gunicorn: :func:`install_gunicorn_drain` (called from ``post_worker_init``
  in ``gunicorn.conf.py``) chains our handler in front of the worker's own
  SIGTERM handler; gunicorn then stops accepting and waits up to
  ``graceful_timeout`` for the connections, which our streams now close.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import Callable

from server.access_log import CLOSERS_KEY

log = logging.getLogger(__name__)


class Drain:
    """Shutdown flag plus a count of requests (and WebSocket sessions) still running."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._idle = threading.Condition()
        self._in_flight = 0

    @property
    def draining(self) -> bool:
        return self._event.is_set()

    def begin(self) -> None:
        if not self._event.is_set():
            log.info("shutting down: finishing %d open request(s) and stream(s)", self._in_flight)
        self._event.set()

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is in flight or ``timeout`` passes; True if everything finished."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._in_flight > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True


class _Tracked:
    """A response body that leaves the in-flight count when the server closes it."""

    def __init__(self, body, drain: Drain) -> None:
        self._body = body
        self._drain = drain
        self._closed = False

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        try:
            if hasattr(self._body, "close"):
                self._body.close()
        finally:
            if not self._closed:
                self._closed = True
                self._drain.leave()


class InFlightMiddleware:
    """WSGI middleware counting requests from arrival to the end of their response."""

    def __init__(self, app, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    def __call__(self, environ: dict, start_response):
        self.drain.enter()
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.drain.leave()
            raise
        tracked = _Tracked(body, self.drain)
        environ.setdefault(CLOSERS_KEY, []).append(tracked.close)
        return tracked


def chain_signal(signum: int, first: Callable[[], None]) -> None:
    """Run ``first()`` on ``signum``, then whatever handler was installed before."""
    previous = signal.getsignal(signum)

    def handler(sig, frame) -> None:
        first()
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    signal.signal(signum, handler)


def install_gunicorn_drain(worker) -> None:
    """``post_worker_init`` hook: SIGTERM starts our drain, then gunicorn's own graceful stop."""
    app = worker.wsgi
    drain = getattr(app, "extensions", {}).get("drain")
    if drain is None:
        return
    chain_signal(signal.SIGTERM, drain.begin)
    worker.log.info("Worker ready, model loaded (pid: %s)", os.getpid())
