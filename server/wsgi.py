"""``server.wsgi:app`` for gunicorn: settings come from ``TRANSCRIBER_*`` environment variables.

Run with ``gunicorn -c gunicorn.conf.py server.wsgi:app``. Importing this
module loads the model, so each worker process loads it exactly once.
"""

from __future__ import annotations

import sys

from models.engine import ModelLoadError
from server.app import create_app
from server.config import config_from_env

WORKER_BOOT_ERROR = 3  # gunicorn.arbiter.Arbiter.WORKER_BOOT_ERROR

try:
    app = create_app(config_from_env())
except ModelLoadError as exc:
    # One clear line, then exit status 3: gunicorn's "worker failed to boot", which makes the
    # master stop with a non-zero status instead of restarting the worker in a loop for ever.
    print(f"error: cannot load model: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(WORKER_BOOT_ERROR) from None
