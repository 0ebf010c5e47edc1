"""gunicorn settings for ``gunicorn -c gunicorn.conf.py server.wsgi:app``.

gthread workers: each WebSocket stream holds one thread for its lifetime
(flask-sock/simple-websocket need a real thread per socket), and uploads are
CPU-bound in TFLite, which releases the GIL. One worker with many threads
loads the model once and keeps /metrics whole; raise workers only on
machines with memory to spare (each loads its own model and its own metrics).
Every value can be overridden with the environment variables below.
"""

import os

bind = f"{os.environ.get('TRANSCRIBER_HOST', '0.0.0.0')}:{os.environ.get('TRANSCRIBER_PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "1"))
# Streams + concurrent uploads per worker; keep above TRANSCRIBER_MAX_STREAMS so uploads still get threads.
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
# gthread's timeout watches the worker's main loop, not request threads, so long streams are fine.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
accesslog = "-"
errorlog = "-"
