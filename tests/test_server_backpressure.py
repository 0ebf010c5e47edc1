"""The WebSocket transport's bounded input queue: a client that outpaces the server is held back by TCP.

Runs the real transport (``server.ws_transport``) in a real Werkzeug server on
loopback, with a route whose handler does not read until told to, and a real
``websocket-client`` that sends as fast as it can.
"""

from __future__ import annotations

import threading
import time

import websocket
from flask import Blueprint, Flask
from werkzeug.serving import make_server

from server.ws_transport import BoundedServer, add_websocket_route

MESSAGE = 32 * 1024
MAX_BUFFERED = 4 * MESSAGE


def test_unread_input_stays_bounded() -> None:
    held: dict[str, BoundedServer] = {}
    go = threading.Event()
    received: list[int] = []

    def handler(ws: BoundedServer) -> None:
        held["ws"] = ws
        go.wait(30)  # a "slow" stream: reads nothing for a while
        while True:
            data = ws.receive(timeout=5)
            if data is None or data == "end":
                return
            received.append(len(data))

    bp = Blueprint("bp", __name__)
    add_websocket_route(bp, "/slow", "slow", handler,
                        lambda: {"max_buffered_bytes": MAX_BUFFERED, "max_message_size": MESSAGE * 2})
    app = Flask(__name__)
    app.register_blueprint(bp)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    total = 400  # 12.5 MiB: far more than the socket buffers and the queue together hold
    sent = [0]

    def client() -> None:
        ws = websocket.create_connection(f"ws://127.0.0.1:{server.port}/slow", timeout=30)
        for _ in range(total):
            ws.send_binary(b"\x01" * MESSAGE)
            sent[0] += 1
        ws.send("end")
        ws.close()

    sender = threading.Thread(target=client, daemon=True)
    try:
        sender.start()
        time.sleep(1.5)
        ws = held["ws"]
        assert sent[0] < total, "the client was never slowed down"
        assert ws._buffered_bytes() <= MAX_BUFFERED + 2 * MESSAGE
        go.set()
        sender.join(30)
        assert not sender.is_alive()
        deadline = time.monotonic() + 10
        while len(received) < total and time.monotonic() < deadline:
            time.sleep(0.05)
        assert received == [MESSAGE] * total  # slowed down, nothing lost
    finally:
        go.set()
        server.shutdown()
