"""Who may use the server: the Host check, bearer tokens, and what /api/model tells a stranger.

**Host.** The ``Host`` header's name (port ignored, case too; ``.example.com``
admits its subdomains) must be in ``ALLOWED_HOSTS``; this runs first, before the
rate limit and the token. Why: with the server on localhost, a web page can point
its own name at 127.0.0.1 (DNS rebinding) and then read the API as same-origin;
its requests still carry its own name in ``Host``, which is refused here with a
JSON 400. `pycc serve` fills the list from the address it binds (`--allowed-host`
adds names); None admits any host. Not Flask's ``TRUSTED_HOSTS``: werkzeug 3.1
cuts each trusted name at its first ``:``, so no IPv6 address (``[::1]``) can match.

**Tokens.** With ``API_TOKENS`` (from `pycc serve --token-file`), the guarded
endpoints (`GUARDED`: completions, the model, events, metrics) need
``Authorization: Bearer <token>``; health, the OpenAPI document, the editor page
and static files stay open (the page asks for the token, see static/editor.js).
Only SHA-256 digests of the tokens are kept, and a presented token is compared
with each of them by `hmac.compare_digest` on its digest, so the time taken says
nothing about how much of a token matched. Tokens are never logged or echoed: the
401 says what is missing, not what was sent.

**Model info.** `/api/model` leaves out the model directory's path, the training
host's platform string and absolute paths (corpus directories become their last
part) unless the operator sets ``EXPOSE_MODEL_PATHS`` (`pycc serve --expose-paths`).
"""
from __future__ import annotations

import hashlib
import hmac
import re
from pathlib import PurePosixPath, PureWindowsPath

from flask import Flask, g, request

from webapp.schemas import ApiError

GUARDED = frozenset({"api.complete", "api.model", "telemetry.events", "metrics.metrics"})
LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1"]
_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?")
AUTH_EXTENSION = "pycodecomplete.auth"
_BEARER = re.compile(r"Bearer[ \t]+([\x21-\x7e]+)[ \t]*", re.IGNORECASE)
_HIDDEN_KEYS = frozenset({"path", "platform"})


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenAuth:
    """The server's tokens, as digests. Empty: authentication is off."""

    def __init__(self, tokens):
        self._digests = [digest(t) for t in tokens or ()]

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, header: str | None) -> bytes | None:
        """The digest of the token in an Authorization header, if it is one of ours."""
        match = _BEARER.fullmatch(header or "")
        if not match:
            return None
        presented = digest(match.group(1))
        found = None
        for known in self._digests:  # every digest is compared, match or not
            if hmac.compare_digest(presented, known):
                found = known
        return found


def init_security(app: Flask) -> TokenAuth:
    """Register the Host check (call before the rate limiter) and return the token checker."""
    auth = TokenAuth(app.config.get("API_TOKENS"))
    app.config["API_TOKENS"] = None  # only digests stay in the process
    app.extensions[AUTH_EXTENSION] = auth

    allowed = app.config.get("ALLOWED_HOSTS")

    @app.before_request
    def check_host():
        host = request.environ.get("HTTP_HOST")
        if allowed is not None and not host_allowed(host, allowed):
            shown = (host or "")[:100]
            raise ApiError(400, f"Host {shown!r} is not a name this server answers for "
                                "(pycc serve --allowed-host NAME adds one)")
        g.pycc_token = auth.identify(request.headers.get("Authorization")) if auth.enabled else None

    return auth


def init_auth_check(app: Flask, auth: TokenAuth) -> None:
    """Register the token check (after the rate limiter, so guessing is rate-limited too)."""

    @app.before_request
    def check_token():
        if not auth.enabled or request.endpoint not in GUARDED or g.get("pycc_token") is not None:
            return None
        sent = bool(request.headers.get("Authorization"))
        challenge = 'Bearer realm="pycc"' + (', error="invalid_token"' if sent else "")
        message = ("the token is not one of this server's" if sent else
                   "this server needs a token: send 'Authorization: Bearer <token>'")
        raise ApiError(401, message, {"WWW-Authenticate": challenge})


def host_allowed(header: str | None, allowed) -> bool:
    """Whether a ``Host`` header names one of `allowed` (names or addresses; ``.name`` for subdomains)."""
    match = _HOST.fullmatch(header or "")
    if not match or (match.group(2) and not 0 < int(match.group(2)) < 65536):
        return False
    name = match.group(1).lower().strip("[]").rstrip(".")
    for ref in allowed:
        ref = ref.lower().strip("[]").rstrip(".")
        if ref == name or (ref.startswith(".") and name.endswith(ref)):
            return True
    return False


def auth_required(app: Flask) -> bool:
    return app.extensions[AUTH_EXTENSION].enabled


def public_model_info(info: dict, expose_paths: bool) -> dict:
    """`Engine.info()` for strangers: no host paths or platform string, unless the operator asks."""
    if expose_paths:
        return info
    return _scrub(info)


def _scrub(value):
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in _HIDDEN_KEYS}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, str) and _is_absolute_path(value):
        return (PureWindowsPath(value) if "\\" in value else PurePosixPath(value)).name
    return value


def _is_absolute_path(text: str) -> bool:
    return text.startswith(("/", "~", "\\\\")) or bool(re.match(r"[A-Za-z]:[\\/]", text))
