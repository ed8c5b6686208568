"""A fake GitHub GraphQL API v4 (repository search only), served on 127.0.0.1.

The real `GitHubClient` talks to it over real HTTP, unchanged. It implements:

- `search(query:, type: REPOSITORY, first:, after:)` with `repositoryCount`,
  opaque cursors, and GitHub's cap of 1,000 reachable results per query;
- the qualifiers the scraper sends: `language:`, `stars:` and `created:` with
  dates or `THH:MM:SSZ` datetimes (`a..b`, `>`, `>=`, `<`, `<=`, `*`), plus free
  words matched against the name;
- the `x-ratelimit-*` headers with a quota per window, answering 403 with
  `x-ratelimit-remaining: 0` once the quota is spent, until the reset;
- a bearer token check (401 "Bad credentials");
- injected faults, one per request, from `faults`: "502", "504", "secondary"
  (403 + retry-after), "errors" (200 with `errors` and null data), "errors-partial"
  (200 with `errors` next to an empty-looking page), "malformed" (200, not JSON),
  "rate-limited" (200 with a RATE_LIMITED error), "hang" (answers after
  `hang_s`, longer than the client's timeout).

Its clock is injectable: share a `FakeClock` with the client and rate-limit
resets and retry-after waits pass instantly and deterministically.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from dataclasses import dataclass
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from socketserver import ThreadingMixIn

RESULT_CAP = 1000


class FakeClock:
    """Time that moves only when someone sleeps on it."""

    def __init__(self, start: float | None = None):
        self.now = float(start if start is not None else time.time())
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@dataclass
class FakeRepo:
    owner: str
    name: str
    created_at: dt.datetime  # naive UTC
    stars: int = 2000
    language: str = "Python"
    forks: int = 10
    watchers: int = 50
    disk_usage: int = 100  # KiB
    clone_url: str | None = None  # served as `url` (a file:// bare repository in tests)

    @property
    def name_with_owner(self) -> str:
        return f"{self.owner}/{self.name}"

    def node(self) -> dict:
        return {
            "name": self.name,
            "nameWithOwner": self.name_with_owner,
            "owner": {"login": self.owner},
            "diskUsage": self.disk_usage,
            "url": self.clone_url or f"https://github.com/{self.name_with_owner}",
            "sshUrl": f"git@github.com:{self.name_with_owner}.git",
            "forkCount": self.forks,
            "stargazerCount": self.stars,
            "watchers": {"totalCount": self.watchers},
            "createdAt": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def _parse_moment(value: str) -> tuple[dt.datetime, dt.datetime]:
    """The [first, last] second a date or datetime stands for, naive UTC."""
    if "T" not in value:
        day = dt.datetime.strptime(value, "%Y-%m-%d")
        return day, day + dt.timedelta(days=1, seconds=-1)
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment, moment


def _range_filter(expr: str, parse):
    """A predicate for a GitHub range qualifier value (`>x`, `>=x`, `<x`, `<=x`, `a..b`, `x`)."""
    for op in (">=", "<=", ">", "<"):
        if expr.startswith(op):
            lo, hi = parse(expr[len(op):])
            return {">=": lambda v: v >= lo, "<=": lambda v: v <= hi,
                    ">": lambda v: v > hi, "<": lambda v: v < lo}[op]
    if ".." in expr:
        a, b = expr.split("..", 1)
        lo = None if a == "*" else parse(a)[0]
        hi = None if b == "*" else parse(b)[1]
        return lambda v: (lo is None or v >= lo) and (hi is None or v <= hi)
    lo, hi = parse(expr)
    return lambda v: lo <= v <= hi


def _int_pair(value: str) -> tuple[int, int]:
    return int(value), int(value)


class QueryError(ValueError):
    pass


def compile_query(q: str):
    """A predicate over FakeRepo for a search string."""
    preds = []
    for token in q.split():
        if ":" in token:
            qualifier, value = token.split(":", 1)
            if qualifier == "language":
                preds.append(lambda r, v=value.lower(): r.language.lower() == v)
            elif qualifier == "stars":
                f = _range_filter(value, _int_pair)
                preds.append(lambda r, f=f: f(r.stars))
            elif qualifier == "created":
                f = _range_filter(value, _parse_moment)
                preds.append(lambda r, f=f: f(r.created_at))
            else:
                raise QueryError(f"unsupported qualifier {qualifier!r}")
        else:
            preds.append(lambda r, w=token.lower(): w in r.name.lower())
    return lambda r: all(p(r) for p in preds)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class RequestRecord:
    query: str | None
    first: int | None
    after: str | None
    status: int
    fault: str | None = None
    authorization: str | None = None
    nodes: int = 0  # repositories returned


class FakeGitHub:
    def __init__(self, repos: list[FakeRepo], *, token: str = "test-token", clock=None,
                 rate_limit: int = 5000, rate_window: float = 3600.0, delay: float = 0.0,
                 hang_s: float = 1.0, retry_after: int = 7):
        self.repos = sorted(repos, key=lambda r: (-r.stars, r.name_with_owner.lower()))
        self.token = token
        self.clock = clock or FakeClock()
        self.rate_limit = rate_limit
        self.rate_window = rate_window
        self.delay = delay
        self.hang_s = hang_s
        self.retry_after = retry_after
        self.faults: list[str] = []
        self.requests: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._window_reset = self.clock.time() + rate_window
        self._used = 0
        self._server = None
        self._thread = None

    # ------------------------------------------------------------- server --

    def start(self) -> "FakeGitHub":
        self._server = make_server("127.0.0.1", 0, self, server_class=_ThreadingWSGIServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/graphql"

    @property
    def successful_calls(self) -> int:
        return sum(1 for r in self.requests if r.status == 200 and r.fault is None)

    # ---------------------------------------------------------------- app ---

    def _rate_headers(self) -> list[tuple[str, str]]:
        now = self.clock.time()
        if now >= self._window_reset:
            self._window_reset = now + self.rate_window
            self._used = 0
        return [
            ("x-ratelimit-limit", str(self.rate_limit)),
            ("x-ratelimit-remaining", str(max(0, self.rate_limit - self._used))),
            ("x-ratelimit-used", str(self._used)),
            ("x-ratelimit-reset", str(int(self._window_reset))),
            ("x-ratelimit-resource", "graphql"),
        ]

    def __call__(self, environ, start_response):
        if self.delay:
            time.sleep(self.delay)
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size) if size else b""
        auth = environ.get("HTTP_AUTHORIZATION")
        try:
            request = json.loads(body)
            variables = request.get("variables") or {}
            query_text = request["query"]
        except (ValueError, KeyError, AttributeError):
            return self._reply(start_response, 400, {"message": "Problems parsing JSON"}, None, auth)
        q, first, after = variables.get("q"), variables.get("first"), variables.get("after")
        with self._lock:
            fault = self.faults.pop(0) if self.faults else None
        record = RequestRecord(q, first, after, 0, fault, auth)
        self.requests.append(record)

        if not auth or auth.split(" ", 1)[-1] != self.token or not auth.lower().startswith("bearer "):
            return self._reply(start_response, 401, {"message": "Bad credentials"}, record)
        if fault:
            return self._fault(start_response, fault, record)
        with self._lock:
            headers = self._rate_headers()
            if self._used >= self.rate_limit:
                return self._reply(start_response, 403, {"message": "API rate limit exceeded"}, record,
                                   headers=headers)
            self._used += 1
            headers = self._rate_headers()
        if "search(" not in query_text or "repositoryCount" not in query_text:
            return self._reply(start_response, 200, {"errors": [{"message": "unsupported query"}]}, record,
                               headers=headers)
        if not isinstance(first, int) or not 1 <= first <= 100:
            return self._reply(start_response, 200, {"data": None, "errors": [
                {"message": "`first` must be between 1 and 100", "type": "INVALID_ARGUMENTS"}]},
                record, headers=headers)
        try:
            match = compile_query(q or "")
        except (QueryError, ValueError) as exc:
            return self._reply(start_response, 200, {"data": None, "errors": [{"message": str(exc)}]},
                               record, headers=headers)
        matching = [r for r in self.repos if match(r)]
        offset = 0
        if after:
            try:
                offset = int(base64.b64decode(after).decode().split(":", 1)[1])
            except (ValueError, IndexError):
                return self._reply(start_response, 200, {"data": None, "errors": [
                    {"message": "invalid cursor", "type": "INVALID_CURSOR_ARGUMENTS"}]}, record, headers=headers)
        reachable = matching[:RESULT_CAP]
        page = reachable[offset:offset + first]
        end = offset + len(page)
        record.nodes = len(page)
        data = {
            "rateLimit": {"limit": self.rate_limit, "cost": 1, "remaining": self.rate_limit - self._used,
                          "resetAt": dt.datetime.fromtimestamp(self._window_reset, dt.timezone.utc)
                          .strftime("%Y-%m-%dT%H:%M:%SZ")},
            "search": {
                "repositoryCount": len(matching),
                "pageInfo": {"hasNextPage": end < len(reachable),
                             "endCursor": base64.b64encode(f"cursor:{end}".encode()).decode() if page else None},
                "nodes": [r.node() for r in page],
            },
        }
        return self._reply(start_response, 200, {"data": data}, record, headers=headers)

    def _fault(self, start_response, fault: str, record):
        with self._lock:
            headers = self._rate_headers()
        if fault in ("502", "504"):
            return self._reply(start_response, int(fault), b"<html><h1>Bad gateway</h1></html>", record,
                               headers=headers, content_type="text/html")
        if fault == "secondary":
            return self._reply(start_response, 403, {
                "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."},
                record, headers=headers + [("retry-after", str(self.retry_after))])
        if fault == "errors":
            return self._reply(start_response, 200, {"data": None, "errors": [
                {"message": "Something went wrong while executing your query. This may be the result of a timeout."}]},
                record, headers=headers)
        if fault == "errors-partial":
            return self._reply(start_response, 200, {
                "data": {"search": {"repositoryCount": 0, "pageInfo": {"hasNextPage": False, "endCursor": None},
                                    "nodes": []}},
                "errors": [{"message": "Timeout on validation of query"}]}, record, headers=headers)
        if fault == "malformed":
            return self._reply(start_response, 200, b'{"data": {"search": {"repositoryCou', record, headers=headers)
        if fault == "rate-limited":
            return self._reply(start_response, 200, {"errors": [
                {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}, record,
                headers=[h if h[0] != "x-ratelimit-remaining" else (h[0], "0") for h in headers])
        if fault == "hang":
            time.sleep(self.hang_s)
            return self._reply(start_response, 504, b"late", record, headers=headers, content_type="text/plain")
        raise AssertionError(f"unknown fault {fault!r}")

    def _reply(self, start_response, status: int, body, record, headers=(), content_type="application/json"):
        if record is not None:
            record.status = status
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
                  502: "Bad Gateway", 504: "Gateway Timeout"}.get(status, "Error")
        start_response(f"{status} {reason}", [("Content-Type", content_type),
                                              ("Content-Length", str(len(payload))), *headers])
        return [payload]


def spread_repos(n: int, start: dt.datetime, end: dt.datetime, *, prefix: str = "r", stars: int = 2000,
                 **kw) -> list[FakeRepo]:
    """`n` repositories created at evenly spaced seconds in [start, end]."""
    span = (end - start).total_seconds()
    out = []
    for i in range(n):
        created = start + dt.timedelta(seconds=int(span * i / max(1, n - 1))) if n > 1 else start
        out.append(FakeRepo(owner=f"{prefix}owner{i % 37}", name=f"{prefix}{i:05d}", created_at=created,
                            stars=stars + (i * 7919) % 5000, **kw))
    return out
