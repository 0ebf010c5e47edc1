"""gunicorn settings for ``gunicorn -c gunicorn.conf.py server.wsgi:app``.

gthread workers: each WebSocket stream holds one thread for its lifetime
(flask-sock/simple-websocket need a real thread per socket), and uploads are
CPU-bound in TFLite, which releases the GIL. One worker with many threads
loads the model once and keeps /metrics whole; raise workers only on
machines with memory to spare (each loads its own model and its own metrics).
Every value can be overridden with the environment variables below.

Security and shutdown: gunicorn's own access log is off because it prints
the raw request line (a ``?token=`` included); the app writes one JSON line
per request instead (``server/access_log.py``). On SIGTERM each worker first
tells its streams to finish (finals + ``done``, ``server/shutdown.py``),
then gunicorn waits up to ``graceful_timeout`` for them. https: set
``TRANSCRIBER_CERTFILE`` and ``TRANSCRIBER_KEYFILE``.
"""

import os

bind = f"{os.environ.get('TRANSCRIBER_HOST', '0.0.0.0')}:{os.environ.get('TRANSCRIBER_PORT', '8000')}"
# gthread plus a deadline on request headers (slowloris); see server/gunicorn_worker.py.
worker_class = "server.gunicorn_worker.GuardedThreadWorker"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
# Streams + concurrent uploads per worker; keep above TRANSCRIBER_MAX_STREAMS so uploads still get threads.
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# gthread's timeout watches the worker's main loop, not request threads, so long streams are fine.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT",
                                      str(int(float(os.environ.get("TRANSCRIBER_DRAIN_TIMEOUT_S", "30"))))))
keepalive = 5
accesslog = None  # the app's JSON access log masks tokens; gunicorn's would not
errorlog = "-"
# Request line and header limits (gunicorn's defaults, stated so they are not lost).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
certfile = os.environ.get("TRANSCRIBER_CERTFILE") or None
keyfile = os.environ.get("TRANSCRIBER_KEYFILE") or None


def post_worker_init(worker):
    """Chain the app's drain in front of the worker's SIGTERM handler (see server/shutdown.py)."""
    from server.shutdown import install_gunicorn_drain

    install_gunicorn_drain(worker)
