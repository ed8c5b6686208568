"""Where suggestions come from: the engine in this process, or a running `pycc serve`.

Both backends have the same small surface, called from the server's worker
threads: ``complete(text, n, document, suffix, multiline)`` returns suggestions (objects with
``text`` and ``score``) for the cursor at the end of `text`; ``forget(document)``
drops a closed document's state; ``describe()`` says what serves.

* `LocalBackend` calls the engine directly, with the LSP document URI as its
  ``document`` id, so typing is incremental exactly as in the web editor. Closing a
  document frees its cached state through ``engine.forget`` (when the engine has it).
* `RemoteBackend` is a thin client of the JSON API (``POST /api/complete``), with one
  `requests` session (keep-alive), a timeout on every call, and an optional bearer
  token. Document ids sent to the server are ``lsp-<process>-<hash of the URI>``:
  the API caps ids at 200 characters (URIs can be longer), and the per-process part
  keeps two people whose files have the same path (the same container layout) from
  sharing one cached state on a team server. The API cannot free a document, so the
  server's LRU cache does. A failure (unreachable server, timeout, a 4xx/5xx answer)
  is logged once until the next success, and answered with no suggestions: an editor
  asks again on the next keystroke anyway. The token is sent only in the
  ``Authorization`` header and never appears in a log line.
"""
from __future__ import annotations

import hashlib
import logging
import secrets
import threading
from typing import NamedTuple

log = logging.getLogger(__name__)


class RemoteSuggestion(NamedTuple):
    text: str
    score: float


class LocalBackend:
    def __init__(self, engine):
        self.engine = engine

    def complete(self, text: str, n: int, document: str, suffix: str = "", multiline: bool = False) -> list:
        return self.engine.complete(text, n=n, document=document, suffix=suffix, multiline=multiline)

    def forget(self, document: str) -> None:
        forget = getattr(self.engine, "forget", None)
        if forget is not None:
            forget(document)

    def warm(self) -> None:
        """Build the runtime's sessions and run one completion before the first request."""
        warm = getattr(self.engine, "warm", None)
        if warm is not None:
            warm()

    def describe(self) -> str:
        return f"model {self.engine.name}, in this process"

    def close(self) -> None:
        pass


class RemoteBackend:
    def __init__(self, url: str, timeout: float, token: str | None = None):
        import requests

        from pycodecomplete import __version__

        self.url = url.rstrip("/")
        self.timeout = timeout
        self._token = token
        self._session = requests.Session()
        self._session.headers["User-Agent"] = f"pycc-lsp/{__version__}"
        if token:
            self._session.headers["Authorization"] = f"Bearer {token}"
        self._process = secrets.token_hex(4)
        self._problem: str | None = None  # the last failure logged, until a success
        self._lock = threading.Lock()
        self.model = "?"

    def document_id(self, uri: str) -> str:
        return f"lsp-{self._process}-{hashlib.sha256(uri.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"

    def check(self) -> bool:
        """Ask ``/api/health`` once (at start-up); log what answers."""
        try:
            response = self._session.get(f"{self.url}/api/health", timeout=self.timeout)
            body = self._json(response)
        except Exception as exc:  # noqa: BLE001 - any failure is reported the same way
            self._failed(exc)
            return False
        self.model = str(body.get("model", "?"))
        log.info("completions from %s (model %s)", self.url, self.model)
        return True

    def complete(self, text: str, n: int, document: str, suffix: str = "", multiline: bool = False) -> list:
        # Multi-line bodies are a local engine setting; the server answers with its own settings.
        payload = {"text": text, "n": n, "document": self.document_id(document)}
        if suffix:
            payload["suffix"] = suffix
        try:
            response = self._session.post(f"{self.url}/api/complete", json=payload, timeout=self.timeout)
            body = self._json(response)
            suggestions = [RemoteSuggestion(str(s["text"]), float(s["score"])) for s in body["suggestions"]]
        except Exception as exc:  # noqa: BLE001 - a failed request is an empty answer, logged once
            self._failed(exc)
            return []
        if self._problem is not None:
            with self._lock:
                if self._problem is not None:
                    log.warning("%s answers again", self.url)
                    self._problem = None
        return suggestions

    def forget(self, document: str) -> None:
        """The JSON API has no call to drop a document; the server's LRU cache ages it out."""

    def describe(self) -> str:
        return f"model {self.model} at {self.url}"

    def close(self) -> None:
        self._session.close()

    # ------------------------------------------------------------------ internals

    @staticmethod
    def _json(response) -> dict:
        if response.status_code != 200:
            try:
                message = response.json().get("error") or response.reason
            except ValueError:
                message = response.reason
            raise RemoteError(f"HTTP {response.status_code}: {message}")
        body = response.json()
        if not isinstance(body, dict):
            raise RemoteError("the answer is not a JSON object")
        return body

    def _failed(self, exc: Exception) -> None:
        """Log a failure, unless it is the same kind as the last one (every keystroke would repeat it)."""
        kind = str(exc) if isinstance(exc, RemoteError) else type(exc).__name__
        with self._lock:
            if kind == self._problem:
                return
            self._problem = kind
        text = f"{type(exc).__name__}: {exc}"
        if self._token:
            text = text.replace(self._token, "<token>")
        log.warning("no completions from %s: %s", self.url, text)


class RemoteError(Exception):
    """The server answered, but not with suggestions."""
