"""The OpenAPI 3.1 description of the API, built from the pydantic models that validate it.

Every request and answer schema comes from `webapp.schemas` (`models_json_schema`),
so the validator and the document cannot disagree. This module adds what JSON
Schema does not say: paths, status codes, the bearer-token scheme when the server
has tokens, and the `Retry-After` header of a 429.
"""
from __future__ import annotations

from pydantic.json_schema import models_json_schema

from pycodecomplete import __version__
from webapp import schemas

_REF = "#/components/schemas/{model}"
_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(ref: dict) -> dict:
    return {"application/json": {"schema": ref}}


def _error_response(description: str, headers: dict | None = None) -> dict:
    response = {"description": description, "content": _json(_ERROR)}
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before the next request", "required": True,
                                "schema": {"type": "integer", "minimum": 0}}}


def openapi_document(request_model, *, max_text_chars: int, max_content_length: int | None, auth: bool,
                     rate_limited: bool, telemetry: bool) -> dict:
    models = [(request_model, "validation"), (schemas.CompleteResponse, "serialization"),
              (schemas.Health, "serialization"), (schemas.ModelInfo, "serialization"),
              (schemas.EventsRequest, "validation"), (schemas.EventsResponse, "serialization"),
              (schemas.Error, "serialization")]
    refs, definitions = models_json_schema(models, ref_template=_REF)
    ref = {model: refs[(model, mode)] for model, mode in models}
    body_limit = f" or a body over {max_content_length} bytes" if max_content_length else ""

    def guarded(responses: dict, body: bool = True) -> dict:
        """The answers every token-guarded, rate-limited operation can also give."""
        extra = {}
        if body:
            extra["400"] = _error_response("Malformed JSON, a missing, unknown or wrongly typed field, or a value "
                                           "out of range")
            extra["415"] = _error_response("Content-Type is not application/json")
        if auth:
            extra["401"] = _error_response("No token, or not one of the server's (see WWW-Authenticate)",
                                           {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}})
        if rate_limited:
            extra["429"] = _error_response("Too many requests for this token (or address)", _RETRY_AFTER)
        return {**responses, **extra}

    open_op = {"security": []} if auth else {}
    paths = {
        "/api/complete": {"post": {
            "operationId": "complete",
            "summary": "Suggest continuations of the code before the cursor",
            "description": "Suggestions are distinct, ranked by score (descending), and stop at a natural "
                           "boundary: the end of the identifier, number or string being typed, or the end of the "
                           "line. Each request has a time budget; `cut` says what it cut.",
            "requestBody": {"required": True, "content": _json(ref[request_model])},
            "responses": guarded({
                "200": {"description": "Suggestions", "content": _json(ref[schemas.CompleteResponse])},
                "413": _error_response(f"`text` longer than {max_text_chars} characters{body_limit}"),
            }),
        }},
        "/api/events": {"post": {
            "operationId": "events",
            "summary": "Record what happened to suggestions (acceptance telemetry)",
            "description": "Kinds, ranks, lengths, latencies and model names only, never code. Written to the "
                           "server's database in batches; `pycc stats` reads them.",
            "requestBody": {"required": True, "content": _json(ref[schemas.EventsRequest])},
            "responses": guarded({
                "202": {"description": "Queued", "content": _json(ref[schemas.EventsResponse])},
                "413": _error_response(f"A body over the limit{body_limit}"),
            }),
        }},
        "/api/health": {"get": {
            "operationId": "health", **open_op,
            "summary": "Liveness, and the name of the model served (never needs a token)",
            "responses": {"200": {"description": "Serving", "content": _json(ref[schemas.Health])}},
        }},
        "/api/model": {"get": {
            "operationId": "model",
            "summary": "The model served: name, config, training summary, metrics, engine settings",
            "responses": guarded({"200": {"description": "The model", "content": _json(ref[schemas.ModelInfo])}},
                                 body=False),
        }},
        "/api/openapi.json": {"get": {
            "operationId": "openapi", **open_op,
            "summary": "This document",
            "responses": {"200": {"description": "OpenAPI 3.1 document", "content": _json(
                {"type": "object", "required": ["openapi", "paths"]})}},
        }},
    }
    if not telemetry:  # `pycc serve --no-telemetry`: the route is not there either
        del paths["/api/events"]
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "PyCodeComplete",
            "version": __version__,
            "description": "Completions for Python code from a character-level or BPE model. Every error is a "
                           "JSON object with an `error` message and a 4xx status.",
        },
        "paths": paths,
        "components": {"schemas": definitions["$defs"]},
    }
    if auth:
        document["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "One of the tokens in the server's --token-file"}}
        document["security"] = [{"bearer": []}]
    return document
