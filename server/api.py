"""HTTP routes: health, models, metrics, ``/api/transcribe`` and the OpenAI-compatible endpoint.

Parameter checking lives here and turns every client mistake into an
:class:`ApiError` (400 missing/empty file, 422 bad parameter); decoding and
transcription errors come from :class:`server.transcriber.Transcriber`.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, render_template, request

from server.errors import ApiError
from server.formats import (RESPONSE_FORMATS, to_api_json, to_openai_json, to_openai_verbose, to_srt, to_text,
                            to_vtt)
from server.metrics import CONTENT_TYPE
from server.transcriber import Transcriber

bp = Blueprint("api", __name__)

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"", "0", "false", "no", "off"}
# What OpenAI clients send as `model`; they mean "your speech model", so they get the default variant.
OPENAI_MODEL_ALIASES = {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}
ENGLISH = {"en", "english"}


def _transcriber() -> Transcriber:
    return current_app.extensions["transcriber"]


def _flag(name: str) -> bool:
    value = request.form.get(name, "").strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ApiError(422, "invalid_parameter", f"{name} must be true or false, got {value[:40]!r}")


def _upload_bytes() -> bytes:
    """The multipart ``file`` field's bytes (413 comes from MAX_CONTENT_LENGTH while parsing)."""
    upload = request.files.get("file")
    if upload is None:
        raise ApiError(400, "missing_file", 'send the audio as the multipart/form-data field "file"')
    data = upload.read()
    if not data:
        raise ApiError(400, "empty_file", "the uploaded file is empty")
    return data


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/healthz")
def healthz() -> Response:
    transcriber = _transcriber()
    if not transcriber.ready:
        raise ApiError(503, "model_not_loaded", "no model is loaded yet")
    return jsonify({"status": "ok", "model": transcriber.registry.default})


@bp.get("/api/models")
def models() -> Response:
    registry = _transcriber().registry
    return jsonify({"default": registry.default, "models": registry.describe()})


@bp.get("/v1/models")
def openai_models() -> Response:
    """OpenAI's list shape, so clients that validate model names find ours."""
    registry = _transcriber().registry
    return jsonify({"object": "list", "data": [
        {"id": name, "object": "model", "created": 0, "owned_by": "local"} for name in registry.available()]})


@bp.get("/metrics")
def metrics() -> Response:
    return Response(current_app.extensions["metrics"].render(), content_type=CONTENT_TYPE)


@bp.post("/api/transcribe")
def transcribe() -> Response:
    timestamps = _flag("timestamps")
    model = request.form.get("model")
    data = _upload_bytes()
    transcript = _transcriber().transcribe(data, model)
    return jsonify(to_api_json(transcript, timestamps))


@bp.post("/v1/audio/transcriptions")
def openai_transcriptions() -> Response:
    """``POST /v1/audio/transcriptions`` as OpenAI's API defines it; unused fields are accepted and ignored."""
    response_format = request.form.get("response_format", "json").strip().lower() or "json"
    if response_format not in RESPONSE_FORMATS:
        raise ApiError(422, "invalid_parameter",
                       f"response_format must be one of {', '.join(RESPONSE_FORMATS)}, got {response_format[:40]!r}")
    language = request.form.get("language", "").strip().lower()
    if language and language.split("-")[0] not in ENGLISH:
        raise ApiError(422, "unsupported_language", f"this server transcribes English only, not {language[:40]!r}")
    model = request.form.get("model", "").strip()
    if model in OPENAI_MODEL_ALIASES:
        model = ""
    granularities = request.form.getlist("timestamp_granularities[]") + request.form.getlist("timestamp_granularities")
    data = _upload_bytes()
    transcript = _transcriber().transcribe(data, model)
    if response_format == "text":
        return Response(to_text(transcript), content_type="text/plain; charset=utf-8")
    if response_format == "srt":
        return Response(to_srt(transcript), content_type="application/x-subrip; charset=utf-8")
    if response_format == "vtt":
        return Response(to_vtt(transcript), content_type="text/vtt; charset=utf-8")
    if response_format == "verbose_json":
        return jsonify(to_openai_verbose(transcript, words="word" in granularities))
    return jsonify(to_openai_json(transcript))
