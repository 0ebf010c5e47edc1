"""``server.wsgi:app`` for gunicorn: settings come from ``TRANSCRIBER_*`` environment variables.

Run with ``gunicorn -c gunicorn.conf.py server.wsgi:app``. Importing this
module loads the model, so each worker process loads it exactly once.
"""

from __future__ import annotations

import sys

from models.engine import ModelLoadError
from server.app import create_app
from server.config import config_from_env

try:
    app = create_app(config_from_env())
except ModelLoadError as exc:  # one clear line in the log; gunicorn then reports the worker failed to boot
    print(f"error: cannot load model: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(2) from None
