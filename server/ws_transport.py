"""WebSocket transport: simple-websocket's server with a bounded input queue, mounted on Flask.

flask-sock's ``Sock.route`` builds a plain ``simple_websocket.Server``, whose
reader thread appends every incoming message to an unbounded list. A client
that sends audio faster than we transcribe it would grow that list without
limit. :class:`BoundedServer` makes the reader thread wait while more than
``max_buffered_bytes`` are queued, so it stops reading the socket, the TCP
window fills and the client's own send blocks: real backpressure, and a
stream's memory stays bounded however fast its client talks.

:func:`add_websocket_route` does what ``Sock.route`` does (same response
trick for the Werkzeug and gunicorn servers) with our server class.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable

from flask import Blueprint, Response, request
from simple_websocket import ConnectionClosed, Server
from wsproto.events import Message, TextMessage

from server.access_log import WEBSOCKET_KEY

log = logging.getLogger(__name__)


class _DaemonThread(threading.Thread):
    """simple-websocket's reader thread, made a daemon.

    Threads inherit daemon-ness from their creator: under Werkzeug they are
    daemons, but gthread's pool threads are not, so a reader still waiting
    for a silent client's close reply would keep a stopping gunicorn worker
    alive until its socket timed out (and past ``graceful_timeout``).
    """

    def __init__(self, *args, **kwargs) -> None:
        kwargs["daemon"] = True
        super().__init__(*args, **kwargs)


class BoundedServer(Server):
    """A server-side WebSocket whose unread input never exceeds ``max_buffered_bytes`` (plus one message)."""

    def __init__(self, environ: dict, max_buffered_bytes: int, idle_timeout: float | None = None, **options) -> None:
        self._room = threading.Condition()
        self._max_buffered = max_buffered_bytes
        self._send_lock = threading.Lock()
        self.bytes_sent = 0  # for the access log
        sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
        if sock is not None and idle_timeout:
            # A hard stop for a client that stops reading (blocked sends) or goes silent (reads).
            # It is longer than the protocol's own idle timeout, so a merely idle client still
            # gets a proper error message and close frame before the socket gives up.
            sock.settimeout(max(idle_timeout * 1.5, idle_timeout + 5))
        super().__init__(environ, thread_class=_DaemonThread, **options)

    def _buffered_bytes(self) -> int:
        return sum(len(message) for message in list(self.input_buffer))

    def _handle_events(self) -> bool:
        keep_going = super()._handle_events()
        if not keep_going:
            # The base class wakes the reader (event.set) before its caller marks the socket
            # disconnected (e.g. on an oversized message), so a waiting receive() could sleep
            # until its timeout. Mark it here first and wake it again.
            self.connected = False
            self.event.set()
        with self._room:  # runs in the reader thread: waiting here stops reading the socket
            while keep_going and self.connected and self._buffered_bytes() > self._max_buffered:
                self._room.wait(timeout=0.5)
        return keep_going

    def receive(self, timeout: float | None = None):
        data = super().receive(timeout)
        with self._room:
            self._room.notify_all()
        return data

    def send(self, data) -> None:
        """Like the base class, but ``sendall``: a large message is never cut short by a partial send."""
        if not self.connected:
            raise ConnectionClosed(self.close_reason, self.close_message)
        frame = self.ws.send(Message(data=data) if isinstance(data, bytes) else TextMessage(data=str(data)))
        with self._send_lock:
            self.sock.sendall(frame)
            self.bytes_sent += len(frame)

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        try:
            super().close(reason, message)
        finally:
            with self._room:
                self._room.notify_all()


LINGER_S = 2.0  # after our close frame, how long we read on, waiting for the client to hang up


def _linger(sock: socket.socket) -> None:
    """Half-close, then read until the client hangs up (bounded), and only then let the socket close.

    Closing a TCP socket with unread input sends a reset, and a reset can
    overtake our last frames (``done``, the close frame) on their way to a
    client that was still sending audio. Reading its leftovers until it
    closes, as RFC 6455 section 7.1.1 asks of servers, lets those frames arrive.
    """
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        return
    deadline = time.monotonic() + LINGER_S
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            sock.settimeout(remaining)
            if not sock.recv(65536):
                return
        except (OSError, ValueError):
            return


class _HandledResponse(Response):
    """The WSGI response after a WebSocket session, per server (as flask-sock does it)."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self._mode = mode

    def __call__(self, environ, start_response):
        if self._mode == "gunicorn":
            raise StopIteration()  # gunicorn: the socket is done; close the connection
        if self._mode == "werkzeug":
            return super().__call__(environ, start_response)
        return []


def add_websocket_route(bp: Blueprint, path: str, endpoint: str, handler: Callable[[BoundedServer], None],
                        options: Callable[[], dict]) -> None:
    """Mount ``handler(ws)`` at ``path``; ``options()`` gives :class:`BoundedServer`'s keyword arguments."""

    def view() -> Response:
        ws = BoundedServer(request.environ, **options())
        request.environ[WEBSOCKET_KEY] = ws  # the access log reports the session as 101 with its bytes
        try:
            handler(ws)
        except ConnectionClosed:
            pass
        try:
            ws.close()
        except Exception:  # noqa: BLE001 - already closed by either side; nothing to do
            pass
        # Shutting our sending side also makes Werkzeug's HTTP response after an upgraded
        # session fail quietly (it treats it as a dropped connection) instead of sending garbage.
        _linger(ws.sock)
        if ws.mode == "gunicorn":
            # gunicorn lingers too when it closes the connection, but in its main loop, one
            # connection after another: 2 s each for clients that never hang up would stall a
            # draining worker past graceful_timeout. We already lingered here, in parallel.
            try:
                ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return _HandledResponse(ws.mode)

    view.__name__ = endpoint
    bp.add_url_rule(path, endpoint, view, websocket=True)
