"""``python -m server``'s HTTP server: Werkzeug's threaded server, hardened and draining on SIGTERM.

``app.run`` would do, except that it (1) logs every raw request line, query
token included, (2) waits for ever on a client that never finishes its
headers, and (3) dies at once on SIGTERM, cutting open streams off. Here the
request handler logs nothing itself (the JSON access log does), bounds header
and body reads, and :func:`serve` stops accepting on SIGTERM/SIGINT, lets the
streams finish (:mod:`server.shutdown`) and returns 0.
"""

from __future__ import annotations

import logging
import signal
import socket
import ssl
import sys
import threading

from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

from server.access_log import CLOSERS_KEY, WEBSOCKET_KEY, mask_text
from server.config import ServerConfig
from server.shutdown import Drain

log = logging.getLogger(__name__)


class _AfterTimeoutReader:
    """The connection's reader, returning EOF once a read has timed out or the connection was upgraded.

    After one timeout Python's socket file refuses every later read with an
    OSError. Werkzeug reads the leftovers of the body after the response, and
    that error (raised from its ``finally``) would skip closing the response
    and log a traceback for what is only a slow client we already answered.
    """

    def __init__(self, raw, handler: "GuardedRequestHandler") -> None:
        self._raw = raw
        self._handler = handler
        self._timed_out = False

    def _guard(self, method: str, *args):
        # After a WebSocket session the connection no longer speaks HTTP: Werkzeug's drain of the
        # "request body" would block on a client that keeps its socket open, holding the thread.
        upgraded = WEBSOCKET_KEY in (getattr(self._handler, "environ", None) or {})
        if self._timed_out or upgraded:
            return b"" if method != "readinto" else 0
        try:
            return getattr(self._raw, method)(*args)
        except (socket.timeout, TimeoutError):
            self._timed_out = True
            raise

    def read(self, *args):
        return self._guard("read", *args)

    def readline(self, *args):
        return self._guard("readline", *args)

    def readinto(self, *args):
        return self._guard("readinto", *args)

    def __getattr__(self, name: str):
        return getattr(self._raw, name)


class GuardedRequestHandler(WSGIRequestHandler):
    """Socket timeout on every read; the request line and headers must arrive within ``timeout`` in all."""

    timeout: float | None = 30.0  # socketserver applies it to the connection in setup()

    def setup(self) -> None:
        super().setup()
        self.rfile = _AfterTimeoutReader(self.rfile, self)
        self._timer: threading.Timer | None = None
        self._arm()

    def _arm(self) -> None:
        # A trickle of header bytes never trips the per-read timeout; this watchdog bounds the total.
        self._timer = threading.Timer(self.timeout or 30.0, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def run_wsgi(self) -> None:
        self._disarm()  # headers are in; the body has its own limits (server.timeouts)
        try:
            super().run_wsgi()
        finally:
            # Werkzeug closes the response after draining the request's leftovers; if that
            # drain fails (a timed-out socket) the close is skipped, and with it the access-log
            # line and the in-flight count a SIGTERM drain waits on. Close here too (idempotent).
            for close in reversed((getattr(self, "environ", None) or {}).get(CLOSERS_KEY, [])):
                try:
                    close()
                except Exception:  # noqa: BLE001 - the client is gone; nothing to report
                    pass
            self._arm()

    def finish(self) -> None:
        self._disarm()
        super().finish()

    def log_request(self, code="-", size="-") -> None:
        """Silent: the JSON access log (server.access_log) records requests without secrets."""

    def log_error(self, format: str, *args) -> None:
        message = mask_text(format % args if args else format)
        if "timed out" in message:
            return  # a slow or idle client that we dropped; not worth a line each
        log.warning("%s: %s", self.address_string(), message)


def _ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    if config.certfile is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(config.certfile), str(config.keyfile))
    return context


def serve(app: Flask, config: ServerConfig) -> int:
    """Serve until SIGTERM/SIGINT, then drain; returns the exit status (0 after a clean drain)."""
    drain: Drain = app.extensions["drain"]
    handler = type("RequestHandler", (GuardedRequestHandler,), {"timeout": config.read_timeout_s})
    try:
        context = _ssl_context(config)
    except (OSError, ssl.SSLError) as exc:
        print(f"error: cannot load certificate: {exc}", file=sys.stderr)
        return 2
    try:
        server = make_server(config.host, config.port, app, threaded=True, request_handler=handler,
                             ssl_context=context)
    except OSError as exc:
        print(f"error: cannot listen on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    server.daemon_threads = True
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        if stopping.is_set():  # a second signal: stop waiting
            raise SystemExit(1)
        stopping.set()
        drain.begin()
        # shutdown() waits for serve_forever to return, so it cannot run in serve_forever's own thread.
        threading.Thread(target=server.shutdown, name="stop-accepting", daemon=True).start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheme = "https" if context else "http"
    model = app.extensions["transcriber"].registry.default
    print(f"serving on {scheme}://{config.host}:{config.port} (model {model})", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.socket.close()  # new connections are refused while open ones finish
    finished = drain.wait_idle(config.drain_timeout_s)
    if not finished:
        log.warning("drain timeout: %d request(s) still open after %.0f s", drain.in_flight, config.drain_timeout_s)
    print("stopped", file=sys.stderr, flush=True)
    return 0 if finished else 1
