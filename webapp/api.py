"""The JSON API blueprint: /api/complete, /api/health, /api/model, /api/openapi.json.

Bad input never reaches the engine: requests are checked against the pydantic
models of `webapp.schemas` (which also write the OpenAPI document), and every
refusal is ``{"error": "..."}`` with a 4xx status (the app's error handlers turn
Werkzeug's own 4xx, such as 413 for a body over MAX_CONTENT_LENGTH, into the same
shape). A chunked body (no Content-Length) is held to the same limit: Werkzeug
cuts such a stream at MAX_CONTENT_LENGTH without a word, so it is read here one
byte past the limit, and refused with 413 when that byte exists.

Each completion has a time budget: the server's ``DEADLINE_MS``, or the request's
smaller ``deadline_ms``; its clock starts when the request is whole (under `pycc
serve`, before it waits for a thread; `webapp.front`), and
`pycodecomplete.engine.budget` says what it cuts.
"""
from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, jsonify, request

from pycodecomplete.engine.budget import Deadline
from pycodecomplete.engine.request import MAX_CHARS_RANGE
from webapp.extensions import engine_of
from webapp.front import ARRIVED
from webapp.limits import limit_text
from webapp.metrics import metrics_of
from webapp.openapi import openapi_document
from webapp.schemas import ApiError, check_sizes, complete_request_model, validate
from webapp.security import auth_required, public_model_info

bp = Blueprint("api", __name__, url_prefix="/api")
_MODEL_KEY = "pycodecomplete.request_model"

__all__ = ["ApiError", "bp", "read_json_object"]


def read_json_object() -> dict:
    if not request.is_json:
        raise ApiError(415, "Content-Type must be application/json")
    raw = _read_body(current_app.config["MAX_CONTENT_LENGTH"])
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "request body is not valid UTF-8") from None
    except (json.JSONDecodeError, ValueError) as exc:
        raise ApiError(400, f"malformed JSON: {exc}") from None
    except RecursionError:
        raise ApiError(400, "malformed JSON: nested too deeply") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _read_body(limit: int | None) -> bytes:
    if limit and request.content_length is None and request.environ.get("wsgi.input_terminated"):
        raw = request.environ["wsgi.input"].read(limit + 1)  # chunked: one byte past the limit tells
        if len(raw) > limit:
            raise ApiError(413, f"request body is larger than the limit of {limit} bytes")
        return raw
    return request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def default_max_chars(engine) -> int:
    """The engine's default suggestion length, inside the API's range."""
    value = getattr(getattr(engine, "settings", None), "max_chars", 40)
    return min(max(int(value), MAX_CHARS_RANGE[0]), MAX_CHARS_RANGE[1])


def server_budget_ms(app) -> int | None:
    value = app.config.get("DEADLINE_MS")
    return int(value) if value and int(value) > 0 else None


def request_model(app):
    """This app's CompleteRequest model (its limits come from the config and the engine)."""
    model = app.extensions.get(_MODEL_KEY)
    if model is None:
        model = app.extensions[_MODEL_KEY] = complete_request_model(
            app.config["MAX_TEXT_CHARS"], default_max_chars(engine_of(app)), server_budget_ms(app))
    return model


@bp.post("/complete")
def complete():
    # When the front (pycc serve) had the whole request: time waiting for a thread counts too.
    arrived = request.environ.get("asgi.scope", {}).get(ARRIVED) or time.monotonic()
    started = time.perf_counter()
    app = current_app._get_current_object()
    engine = engine_of(app)
    args = validate(request_model(app), read_json_object())
    check_sizes(args, app.config["MAX_TEXT_CHARS"])
    budgets = [b for b in (server_budget_ms(app), args.deadline_ms) if b]
    deadline = Deadline(min(budgets) if budgets else None)
    deadline.start = arrived
    cache = getattr(engine, "cache", None)
    was_cached = args.document is not None and cache is not None and args.document in cache
    engine_started = time.perf_counter()
    suggestions = engine.complete(args.text, n=args.n, max_chars=args.max_chars, document=args.document,
                                  deadline=deadline, suffix=args.suffix, files=args.files or ())
    metrics_of(app).observe_completion(time.perf_counter() - engine_started, args.document, was_cached, cache,
                                       deadline.cut)
    return jsonify({
        "suggestions": [s.to_json() for s in suggestions],
        "model": engine.name,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
        "budget_ms": deadline.budget_ms,
        "cut": deadline.cut,
    })


@bp.get("/health")
def health():
    return jsonify({"status": "ok", "model": engine_of(current_app).name})


@bp.get("/model")
def model():
    info = engine_of(current_app).info()
    return jsonify(public_model_info(info, bool(current_app.config.get("EXPOSE_MODEL_PATHS"))))


@bp.get("/openapi.json")
def openapi():
    app = current_app._get_current_object()
    return jsonify(openapi_document(
        request_model(app), max_text_chars=app.config["MAX_TEXT_CHARS"],
        max_content_length=app.config["MAX_CONTENT_LENGTH"], auth=auth_required(app),
        rate_limited=limit_text(app) is not None, telemetry=bool(app.config.get("TELEMETRY_DB"))))
