"""gunicorn's gthread worker with a deadline on request headers (``worker_class`` in ``gunicorn.conf.py``).

gthread parks connections that send nothing, but once a byte arrives a
thread reads the headers with no time limit, so a client trickling one
header byte a second holds that thread for ever; a handful of them starve
the worker. Here each connection's thread arms a timer when it starts
reading a request; if the headers are not all in within
``TRANSCRIBER_READ_TIMEOUT_S`` (default 30) the socket is shut, the read ends
and gunicorn drops the connection quietly. Parsed headers disarm it.
Request bodies have their own limits (:mod:`server.timeouts`).
"""

from __future__ import annotations

import os
import socket
import threading

from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

# gthread lets a new connection hold a thread this long waiting for its first byte before
# parking it in the poller (5 s upstream). A burst of silent sockets could then starve the
# pool for 5 s; one second is plenty for a real client's request to start arriving.
PARK_SILENT_AFTER_S = 1.0


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


class GuardedThreadWorker(ThreadWorker):
    """``ThreadWorker`` whose connections must deliver complete headers within the read timeout."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = float(os.environ.get("TRANSCRIBER_READ_TIMEOUT_S", "30"))
        self._local = threading.local()
        gthread.DEFAULT_WORKER_DATA_TIMEOUT = min(gthread.DEFAULT_WORKER_DATA_TIMEOUT, PARK_SILENT_AFTER_S)

    def handle(self, conn):
        # conn.sock is read when the timer fires: under TLS it is replaced by the wrapped socket.
        timer = threading.Timer(self.header_timeout, lambda: _shut(conn.sock))
        timer.daemon = True
        self._local.timer = timer
        timer.start()
        try:
            return super().handle(conn)
        finally:
            timer.cancel()

    def handle_request(self, req, conn):
        # Headers are parsed: from here on the body and stream limits apply, not this one.
        timer = getattr(self._local, "timer", None)
        if timer is not None:
            timer.cancel()
        return super().handle_request(req, conn)
