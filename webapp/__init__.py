"""The web app: a JSON completion API and a browser editor around one loaded engine.

`create_app(test_config=None)` is the application factory (Flask tutorial style):
defaults from `from_mapping`, then the optional instance config
(`instance/config.py`), then ``PYCC_*`` environment variables
(`from_prefixed_env("PYCC")`, e.g. ``PYCC_MODEL_DIR=/models/x``), then `test_config`
(a mapping, which wins). The engine is loaded once, at creation, and lives in
``app.extensions["pycodecomplete"]``.

Settings:

* ``MODEL_DIR``: the model directory; None serves the default model
  (`pycodecomplete.paths.resolve_default_model`).
* ``ENGINE_SETTINGS``: the model family's engine settings (`pycodecomplete.engine.settings`), e.g.
  ``{"context": "window", "beam_width": 8}``.
* ``ENGINE``: a ready engine object (tests); ``ENGINE_FACTORY``: ``"module:function"``
  that returns one from the app config (another model family, or a stub in tests).
* ``MAX_TEXT_CHARS``: longest `text` accepted by ``/api/complete`` (413 beyond);
  ``MAX_CONTENT_LENGTH``: request body limit in bytes (413 beyond, chunked bodies too).
* ``EDITOR_DEBOUNCE_MS``: how long the editor waits after a keystroke before asking.
* ``DEADLINE_MS``: each completion's time budget (0: none); a request may ask for less.
* ``API_TOKENS``: bearer tokens that guard the API (empty: no authentication);
  ``ALLOWED_HOSTS``: the ``Host`` names answered (None: any); ``EXPOSE_MODEL_PATHS``:
  show host paths in /api/model (`webapp.security`).
* ``RATE_LIMIT``: per token or address, e.g. ``"50 per second; 1500 per minute"``
  ("off": none), plus Flask-Limiter's own ``RATELIMIT_*`` settings (`webapp.limits`).
* ``TELEMETRY_DB``: database URL for acceptance events (None: telemetry off and no
  /api/events); ``TELEMETRY_BATCH``, ``TELEMETRY_FLUSH_SECONDS`` (`webapp.events`).

Before each request, in this order: the clock for the metrics, the Host check, the
rate limit, the token. `/metrics` serves Prometheus's format (`webapp.metrics`).
"""
from __future__ import annotations

import importlib
import logging

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from pycodecomplete.errors import PyccError
from webapp import api, editor
from webapp.events import init_telemetry
from webapp.extensions import EXTENSION, engine_of
from webapp.limits import DEFAULT_RATE_LIMIT, init_limits
from webapp.metrics import init_metrics
from webapp.schemas import ApiError
from webapp.security import LOOPBACK_HOSTS, init_auth_check, init_security

log = logging.getLogger(__name__)
__all__ = ["create_app", "engine_of"]

DEFAULTS = dict(
    MODEL_DIR=None,
    ENGINE=None,
    ENGINE_FACTORY=None,
    ENGINE_SETTINGS={},
    MAX_TEXT_CHARS=100_000,
    MAX_CONTENT_LENGTH=2 * 2**20,
    EDITOR_DEBOUNCE_MS=40,
    EDITOR_SUGGESTIONS=5,
    JSON_SORT_KEYS=False,
    DEADLINE_MS=1000,
    API_TOKENS=(),
    ALLOWED_HOSTS=LOOPBACK_HOSTS,
    EXPOSE_MODEL_PATHS=False,
    RATE_LIMIT=DEFAULT_RATE_LIMIT,
    TELEMETRY_DB=None,
    TELEMETRY_BATCH=200,
    TELEMETRY_FLUSH_SECONDS=2.0,
)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(DEFAULTS)
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("PYCC")
    if test_config is not None:
        app.config.from_mapping(test_config)
    app.json.sort_keys = app.config["JSON_SORT_KEYS"]
    engine = app.extensions[EXTENSION] = _load_engine(app)

    init_metrics(app, engine)  # first: its clock sees every request
    auth = init_security(app)  # the Host check
    init_limits(app)
    init_auth_check(app, auth)
    app.register_blueprint(api.bp)
    app.register_blueprint(editor.bp)
    init_telemetry(app)
    _register_error_handlers(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault(
            "Content-Security-Policy",
            # Inline styles only: jquery.caret measures the caret in a mirror element styled inline.
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'; form-action 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    return app


def _load_engine(app: Flask):
    config = app.config
    if config["ENGINE"] is not None:
        return config["ENGINE"]
    if config["ENGINE_FACTORY"]:
        module_name, _, attribute = str(config["ENGINE_FACTORY"]).partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute or "create_engine")
        except (ImportError, AttributeError) as exc:
            raise PyccError(f"ENGINE_FACTORY {config['ENGINE_FACTORY']!r}: {exc}") from None
        return factory(config)
    from pycodecomplete.engine import load_engine
    from pycodecomplete.paths import resolve_default_model

    return load_engine(config["MODEL_DIR"] or resolve_default_model(), config["ENGINE_SETTINGS"])


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description or exc.name
        if exc.code == 413 and not isinstance(exc, ApiError):  # Werkzeug's own: the body's size
            message = f"request body is larger than the limit of {app.config['MAX_CONTENT_LENGTH']} bytes"
        if exc.code == 429:
            message = f"too many requests: the limit is {message}"
        response = jsonify({"error": message})
        response.status_code = exc.code or 500
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        if isinstance(exc, ApiError):
            response.headers.update(exc.extra_headers)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify({"error": "internal server error"}), 500
