"""Rate limits with Flask-Limiter: per token, or per client address when the server has none.

``RATE_LIMIT`` is a `limits` string such as ``"50 per second; 1500 per minute"``
(`pycc serve --rate-limit`; empty or "off" turns limits off; `pycc serve` turns
them on by itself only when it has tokens or serves other machines). The default is
generous for fast typists: the editor asks at most once per 40 ms of typing pause
(25 a second in a burst) and a person types about 5 to 10 characters a second
for a minute at most; the events of the telemetry come in batches. A client over
the limit gets a JSON 429 with ``Retry-After`` (and the ``X-RateLimit-*`` headers).

Only completions, the model, events and metrics count (`LIMITED`); health, the
OpenAPI document, the editor page and static files never do.

The key is a digest of the token (never the token), or ``REMOTE_ADDR``: behind a
reverse proxy every client is the proxy, so give each person a token there.
Counters live in each worker's memory (``memory://``), so with N workers a
client gets up to N times the limit. ``RATELIMIT_STORAGE_URI`` (for example
``redis://host:6379``, with the `redis` package) shares them between workers and
servers.
"""
from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter
from limits import parse_many

from pycodecomplete.errors import PyccError

LIMITED = frozenset({"api.complete", "api.model", "telemetry.events", "metrics.metrics"})
DEFAULT_RATE_LIMIT = "50 per second; 1500 per minute"


def rate_key() -> str:
    token = g.get("pycc_token")
    if token is not None:
        return "token:" + token.hex()[:32]
    return "addr:" + (request.remote_addr or "unknown")


def limit_text(app: Flask) -> str | None:
    text = (app.config.get("RATE_LIMIT") or "").strip()
    return None if text.lower() in ("", "off", "none", "0") else text


def init_limits(app: Flask) -> Limiter | None:
    """Register the limiter's check (after the Host check, before the token check)."""
    text = limit_text(app)
    if text is None:
        return None
    try:
        parse_many(text)
    except ValueError:
        raise PyccError(f"rate limit {text!r} is not one: write e.g. '{DEFAULT_RATE_LIMIT}', or off") from None
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("RATELIMIT_STRATEGY", "moving-window")
    return Limiter(rate_key, app=app, default_limits=[text],
                   default_limits_exempt_when=lambda: request.endpoint not in LIMITED)
