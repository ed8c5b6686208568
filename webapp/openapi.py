"""The OpenAPI 3.1 description of the API, built from the same limits the views check."""
from __future__ import annotations

from pycodecomplete import __version__
from pycodecomplete.engine.request import MAX_CHARS_RANGE, N_RANGE

# The fields of POST /api/complete: the validator in `webapp.api` reads its limits here.
FIELDS = {
    "text": {"type": "string", "description": "The code before the cursor. Any Unicode is accepted; "
             "characters outside the model's vocabulary are mapped to close ASCII ones."},
    "n": {"type": "integer", "minimum": N_RANGE[0], "maximum": N_RANGE[1], "default": 5,
          "description": "How many suggestions to return at most."},
    "max_chars": {"type": "integer", "minimum": MAX_CHARS_RANGE[0], "maximum": MAX_CHARS_RANGE[1],
                  "description": "Longest suggestion, in characters."},
    "document": {"type": ["string", "null"], "minLength": 1, "maxLength": 200,
                 "description": "An id for the document being edited. Requests with the same id reuse "
                 "the model state of the previous text, so only new characters are computed."},
}

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def openapi_document(max_text_chars: int, default_max_chars: int, max_content_length: int | None) -> dict:
    request_fields = {name: dict(spec) for name, spec in FIELDS.items()}
    request_fields["text"]["maxLength"] = max_text_chars
    request_fields["max_chars"]["default"] = default_max_chars
    body_limit = f" or a body over {max_content_length} bytes" if max_content_length else ""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "PyCodeComplete",
            "version": __version__,
            "description": "Completions for Python code from a character-level model. Every error is a "
                           "JSON object with an `error` message and a 4xx status.",
        },
        "paths": {
            "/api/complete": {
                "post": {
                    "operationId": "complete",
                    "summary": "Suggest continuations of the code before the cursor",
                    "description": "Suggestions are distinct, ranked by score (descending), and stop at a "
                                   "natural boundary: the end of the identifier, number or string being "
                                   "typed, or the end of the line.",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {
                            "$ref": "#/components/schemas/CompleteRequest"}}},
                    },
                    "responses": {
                        "200": {"description": "Suggestions", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/CompleteResponse"}}}},
                        "400": _error_response("Malformed JSON, a missing, unknown or wrongly typed field, "
                                               "or a value out of range"),
                        "413": _error_response(f"`text` longer than {max_text_chars} characters{body_limit}"),
                        "415": _error_response("Content-Type is not application/json"),
                    },
                },
            },
            "/api/health": {
                "get": {
                    "operationId": "health",
                    "summary": "Liveness, and the name of the model served",
                    "responses": {"200": {"description": "Serving", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Health"}}}}},
                },
            },
            "/api/model": {
                "get": {
                    "operationId": "model",
                    "summary": "The model served: config, training summary, metrics, engine settings",
                    "responses": {"200": {"description": "The model", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Model"}}}}},
                },
            },
            "/api/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1 document", "content": {
                        "application/json": {"schema": {"type": "object", "required": ["openapi", "paths"]}}}}},
                },
            },
        },
        "components": {
            "schemas": {
                "CompleteRequest": {
                    "type": "object",
                    "required": ["text"],
                    "additionalProperties": False,
                    "properties": request_fields,
                },
                "Suggestion": {
                    "type": "object",
                    "required": ["text", "score"],
                    "additionalProperties": False,
                    "properties": {
                        "text": {"type": "string", "minLength": 1,
                                 "description": "Text to insert at the cursor"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1,
                                  "description": "The model's probability of this continuation"},
                    },
                },
                "CompleteResponse": {
                    "type": "object",
                    "required": ["suggestions", "model", "elapsed_ms"],
                    "additionalProperties": False,
                    "properties": {
                        "suggestions": {"type": "array", "maxItems": 10,
                                        "items": {"$ref": "#/components/schemas/Suggestion"}},
                        "model": {"type": "string"},
                        "elapsed_ms": {"type": "number", "minimum": 0,
                                       "description": "Time spent in the server on this request"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status", "model"],
                    "additionalProperties": False,
                    "properties": {"status": {"type": "string", "enum": ["ok"]}, "model": {"type": "string"}},
                },
                "Model": {
                    "type": "object",
                    "required": ["name", "engine"],
                    "properties": {
                        "name": {"type": "string"},
                        "path": {"type": "string"},
                        "format_version": {"type": "integer"},
                        "config": {"type": "object", "description": "The training config (architecture)"},
                        "vocabulary": {"type": "object"},
                        "summary": {"type": "object", "description": "Training summary"},
                        "metrics": {"type": "object", "description": "Evaluation metrics"},
                        "engine": {"type": "object", "description": "Completion engine settings"},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": False,
                    "properties": {"error": {"type": "string"}},
                },
            },
        },
    }
