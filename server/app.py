"""``create_app(config)``: the Flask application with its model, metrics and routes.

Everything a request needs hangs off ``app.extensions`` (transcriber,
metrics, stream slots), created once per process here, so tests and the two
entrances (``python -m server``, ``server.wsgi``) build identical apps.
Cross-cutting concerns live in their own modules and are wired here: token
and Origin checks plus security headers (:mod:`server.security`), the JSON
access log (:mod:`server.access_log`), slow-body limits
(:mod:`server.timeouts`) and the shutdown drain (:mod:`server.shutdown`).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, request

from dsp.vad import VadConfig
from models.registry import ModelRegistry
from server.access_log import AccessLogMiddleware, configure_access_logger
from server.api import bp as api_bp
from server.config import ServerConfig
from server.errors import error_response, register_error_handlers
from server.metrics import Metrics
from server.security import WEBSOCKET_PATHS, install_security
from server.shutdown import Drain, InFlightMiddleware
from server.timeouts import BodyDeadlineMiddleware
from server.stream import StreamSlots, serve_stream
from server.transcriber import Transcriber
from server.ws_transport import add_websocket_route

log = logging.getLogger(__name__)

ws_bp = Blueprint("ws", __name__)
BUFFERED_MESSAGES = 4  # unread input a stream may queue, in units of the largest message


def _stream(ws) -> None:
    ext = current_app.extensions
    serve_stream(ws, ext["transcriber"], ext["metrics"], ext["stream_slots"], ext["server_config"].idle_timeout_s,
                 ext["drain"])


def _ws_options() -> dict:
    config: ServerConfig = current_app.extensions["server_config"]
    max_message = config.max_message_kb * 1024
    return {"max_message_size": max_message, "max_buffered_bytes": BUFFERED_MESSAGES * max_message,
            "idle_timeout": config.idle_timeout_s}


add_websocket_route(ws_bp, "/ws/transcribe", "transcribe_stream", _stream, _ws_options)


def create_app(config: ServerConfig, registry: ModelRegistry | None = None, access_log: bool = True) -> Flask:
    """Build the app and load the default model (raises ``ModelLoadError`` if it cannot)."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["MAX_CONTENT_LENGTH"] = config.max_upload_bytes
    app.json.sort_keys = False
    registry = registry or ModelRegistry(config.models_dir, config.model, config.threads, config.pool_size,
                                         VadConfig(aggressiveness=config.vad_mode))
    metrics = Metrics()
    transcriber = Transcriber(registry, metrics, config.max_audio_seconds)
    metrics.model_loaded = int(transcriber.ready)
    drain = Drain()
    app.extensions.update(transcriber=transcriber, metrics=metrics, server_config=config,
                          stream_slots=StreamSlots(config.max_streams), drain=drain)
    register_error_handlers(app)
    install_security(app, config)

    @app.before_request
    def _refuse_new_streams_while_draining():
        if drain.draining and request.path in WEBSOCKET_PATHS:
            response = error_response(503, "shutting_down", "the server is shutting down; reconnect shortly")
            response.headers["Retry-After"] = "5"
            return response
        return None
    app.register_blueprint(api_bp)
    app.register_blueprint(ws_bp)

    @app.after_request
    def _count(response):
        # Label by route pattern, never the raw path, so random URLs cannot blow up the series count.
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        metrics.request(route, request.method, response.status_code)
        return response

    # Outermost first: the access log times everything, the drain counts everything, bodies get deadlines.
    wsgi = BodyDeadlineMiddleware(app.wsgi_app, config.upload_timeout_s, config.read_timeout_s)
    wsgi = InFlightMiddleware(wsgi, drain)
    if access_log:
        wsgi = AccessLogMiddleware(wsgi, configure_access_logger())
    app.wsgi_app = wsgi
    return app
