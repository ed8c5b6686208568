"""The JSON API blueprint: /api/complete, /api/health, /api/model, /api/openapi.json.

Bad input never reaches the engine: every field is checked here, and every
refusal is ``{"error": "..."}`` with a 4xx status (the app's error handlers turn
Werkzeug's own 4xx, such as 413 for a body over MAX_CONTENT_LENGTH, into the same
shape).
"""
from __future__ import annotations

import json
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from webapp.extensions import engine_of
from webapp.openapi import FIELDS, openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")


class ApiError(HTTPException):
    def __init__(self, code: int, message: str):
        super().__init__(description=message)
        self.code = code


def _read_json_object() -> dict:
    if not request.is_json:
        raise ApiError(415, "Content-Type must be application/json")
    raw = request.get_data(cache=False)  # raises 413 beyond MAX_CONTENT_LENGTH
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


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _integer(body: dict, name: str, default: int) -> int:
    value = body.get(name, default)
    low, high = FIELDS[name]["minimum"], FIELDS[name]["maximum"]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(400, f"'{name}' must be an integer from {low} to {high}")
    if not low <= value <= high:
        raise ApiError(400, f"'{name}' must be from {low} to {high}, not {value}")
    return value


def parse_complete_request(body: dict, max_text_chars: int, default_max_chars: int) -> dict:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise ApiError(400, f"unknown field(s): {', '.join(unknown)} (known: {', '.join(FIELDS)})")
    if "text" not in body:
        raise ApiError(400, "'text' is required")
    text = body["text"]
    if not isinstance(text, str):
        raise ApiError(400, "'text' must be a string")
    if len(text) > max_text_chars:
        raise ApiError(413, f"'text' has {len(text)} characters; the limit is {max_text_chars}")
    document = body.get("document")
    if document is not None:
        if not isinstance(document, str):
            raise ApiError(400, "'document' must be a string or null")
        if not 1 <= len(document) <= FIELDS["document"]["maxLength"]:
            raise ApiError(400, f"'document' must have 1 to {FIELDS['document']['maxLength']} characters")
    return {
        "text": text,
        "n": _integer(body, "n", FIELDS["n"]["default"]),
        "max_chars": _integer(body, "max_chars", default_max_chars),
        "document": document,
    }


def default_max_chars(engine) -> int:
    """The engine's default suggestion length, inside the API's range."""
    value = getattr(getattr(engine, "settings", None), "max_chars", 40)
    return min(max(int(value), FIELDS["max_chars"]["minimum"]), FIELDS["max_chars"]["maximum"])


@bp.post("/complete")
def complete():
    started = time.perf_counter()
    engine = engine_of(current_app)
    args = parse_complete_request(_read_json_object(), current_app.config["MAX_TEXT_CHARS"],
                                  default_max_chars(engine))
    suggestions = engine.complete(args["text"], n=args["n"], max_chars=args["max_chars"],
                                  document=args["document"])
    return jsonify({
        "suggestions": [s.to_json() for s in suggestions],
        "model": engine.name,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 3),
    })


@bp.get("/health")
def health():
    return jsonify({"status": "ok", "model": engine_of(current_app).name})


@bp.get("/model")
def model():
    return jsonify(engine_of(current_app).info())


@bp.get("/openapi.json")
def openapi():
    engine = engine_of(current_app)
    return jsonify(openapi_document(current_app.config["MAX_TEXT_CHARS"], default_max_chars(engine),
                                    current_app.config["MAX_CONTENT_LENGTH"]))
