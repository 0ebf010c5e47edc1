"""Every error leaves as JSON ``{"error": {"code", "message"}}`` with a fitting status.

Client mistakes are raised as :class:`ApiError` (4xx) wherever they are found;
Werkzeug's own HTTP errors (404, 405, 413 from ``MAX_CONTENT_LENGTH``) are
rendered the same way, and anything else is a bug: logged with its traceback
and answered with a plain 500 that leaks nothing.
"""

from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge, RequestTimeout
from werkzeug.routing.exceptions import WebsocketMismatch

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A client-facing error; ``code`` is a stable machine-readable slug."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> Response:
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message)

    @app.errorhandler(RequestEntityTooLarge)
    def _too_large(exc: RequestEntityTooLarge) -> Response:
        limit_mb = (app.config.get("MAX_CONTENT_LENGTH") or 0) / (1024 * 1024)
        return error_response(413, "file_too_large", f"the upload is larger than the {limit_mb:g} MB limit")

    @app.errorhandler(RequestTimeout)
    def _too_slow(exc: RequestTimeout) -> Response:
        response = error_response(408, "request_timeout", exc.description or "the request arrived too slowly")
        response.headers["Connection"] = "close"  # the rest of the body may still be on its way
        return response

    @app.errorhandler(WebsocketMismatch)
    def _not_websocket(exc: WebsocketMismatch) -> Response:
        return error_response(400, "websocket_required", "this URL speaks WebSocket only; see docs/protocol.md")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        response = error_response(exc.code or 400, _slug(exc.name or "error"), exc.description or exc.name)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")
