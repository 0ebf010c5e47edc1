"""``python -m server``: the development entrance (Werkzeug's threaded server).

Production runs the same app under gunicorn (``server.wsgi:app`` with
``gunicorn.conf.py``). A model that cannot be loaded is reported in one
line with exit status 2, not a traceback. SIGTERM drains open streams and
exits 0 (:mod:`server.devserver`).
"""

from __future__ import annotations

import logging
import sys

from models.engine import ModelLoadError
from server.app import create_app
from server.config import parse_config
from server.devserver import serve


def main(argv: list[str] | None = None) -> int:
    config = parse_config(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app(config)
    except ModelLoadError as exc:
        print(f"error: cannot load model: {exc}", file=sys.stderr)
        return 2
    return serve(app, config)


if __name__ == "__main__":
    sys.exit(main())
