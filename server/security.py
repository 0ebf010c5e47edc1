"""Who may talk to the server, and what the browser may do with its pages.

* **Token.** With ``--api-token`` set, every request except the public ones
  (the page and its static assets, so a browser can load the page that asks
  for the token; ``/healthz``, so probes need no secret) must carry
  ``Authorization: Bearer TOKEN``. Browsers cannot set headers on a WebSocket,
  so the stream also accepts ``?token=TOKEN`` (masked in the access log).
  Tokens are compared with :func:`hmac.compare_digest`, in constant time.
* **Origin.** A browser sends ``Origin`` on every WebSocket handshake and
  every cross-site ``fetch``/form post. Any request that carries an Origin not
  in ``--allowed-origins`` is refused (403), which stops cross-site WebSocket
  hijacking: a page on another site cannot open a stream with the user's
  network position. Requests without Origin (curl, the Pi client) pass.
  ``self`` means "same host and port as the ``Host`` header"; naming the exact
  origin instead also defeats DNS rebinding, where Host and Origin agree.
* **Headers.** A strict Content-Security-Policy (only our own scripts, styles
  and sockets), no framing, no sniffing, no referrer, no caching of transcripts.
"""

from __future__ import annotations

import hmac
import re
from urllib.parse import urlsplit

from flask import Flask, Response, request

from server.config import ServerConfig
from server.errors import error_response

PUBLIC_PATHS = frozenset({"/", "/healthz", "/favicon.ico"})
PUBLIC_PREFIXES = ("/static/",)
WEBSOCKET_PATHS = frozenset({"/ws/transcribe"})
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
# What a Host header may look like before we echo it into the CSP (no spaces, quotes or semicolons).
_HOST_RE = re.compile(r"^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant-time comparison, so response timing says nothing about how much of a guess was right."""
    if not presented:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def presented_token(is_websocket: bool) -> str | None:
    """The Bearer token from the header, or for a WebSocket handshake the ``token`` query parameter."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if is_websocket:
        return request.args.get("token")
    return None


def _origin_key(scheme: str, host: str) -> tuple[str, str] | None:
    """(host, port) with the scheme's default port filled in, lower-cased; None if unparsable."""
    try:
        parts = urlsplit(f"{scheme}://{host}")
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower(), str(port)


def origin_allowed(origin: str, host: str, allowed: tuple[str, ...]) -> bool:
    """Is a browser page at ``origin`` allowed to talk to us (reached as ``host``)?"""
    origin = origin.strip().rstrip("/")
    if "*" in allowed:
        return True
    if origin.lower() in (a.lower() for a in allowed if a != "self"):
        return True
    if "self" not in allowed:
        return False
    scheme, sep, rest = origin.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        return False
    mine = _origin_key(scheme.lower(), host)
    theirs = _origin_key(scheme.lower(), rest)
    # Behind a TLS proxy the page is https while we see http; host and port must still agree,
    # so https://box (port 443) matches Host: box only when the proxy forwards Host as-is.
    return mine is not None and mine == theirs


def content_security_policy(host: str) -> str:
    """Our own origin only; sockets to our own host over ws/wss (older Safari does not count those as 'self')."""
    sockets = f" ws://{host} wss://{host}" if _HOST_RE.match(host or "") else ""
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            "media-src 'self' blob:; font-src 'self'; worker-src 'self' blob:; "
            f"connect-src 'self'{sockets}; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "microphone=(self), camera=(), geolocation=()",
}


def install_security(app: Flask, config: ServerConfig) -> None:
    """Register the Origin and token checks (before every request) and the response headers."""

    @app.before_request
    def _check_access() -> Response | None:
        is_websocket = request.path in WEBSOCKET_PATHS
        origin = request.headers.get("Origin")
        if origin is not None and not origin_allowed(origin, request.host, config.allowed_origins):
            return error_response(403, "origin_not_allowed",
                                  "requests from this web origin are not allowed (see --allowed-origins)")
        if config.api_token and not is_public(request.path):
            if not token_matches(presented_token(is_websocket), config.api_token):
                response = error_response(401, "unauthorized", "a valid API token is required "
                                          "(Authorization: Bearer TOKEN, or ?token= on the WebSocket)")
                response.headers["WWW-Authenticate"] = 'Bearer realm="transcriber"'
                return response
        return None

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", content_security_policy(request.host))
        if not is_public(request.path):
            response.headers.setdefault("Cache-Control", "no-store")  # transcripts are private
        return response
