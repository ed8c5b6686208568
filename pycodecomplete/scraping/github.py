"""A small client for GitHub's GraphQL API v4: repository search, nothing else.

One `requests.Session`, a timeout on every call, and retries that follow GitHub's
rules:

- the `x-ratelimit-*` headers are read on every response; when the quota is spent
  the client sleeps until `x-ratelimit-reset` before the next call;
- a secondary rate limit (403 or 429) waits for `retry-after`, or for the reset
  when the primary quota is at zero, or a minute at least when neither is given;
- 5xx answers, timeouts and dropped connections back off exponentially, bounded
  in number (`max_retries`) and in length (`max_backoff`);
- an HTTP 200 whose JSON carries `errors`, or that is not JSON at all, is a failure:
  it is retried like the others and reported when the retries run out, never read
  as an empty page.

The token lives only in the session's Authorization header. It is never logged,
never part of an exception, and `repr(client)` does not show it.

`sleep` and `clock` are injectable so tests (and the benchmark) run the real
retry logic against a fake server without waiting for real minutes.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

import requests

from pycodecomplete.errors import OptionError, PyccError

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com/graphql"
PAGE_SIZE = 100  # GitHub's maximum for `first`
RESULT_CAP = 1000  # GitHub search returns at most this many results per query

SEARCH_QUERY = """
query($q: String!, $first: Int!, $after: String) {
  rateLimit { limit cost remaining resetAt }
  search(query: $q, type: REPOSITORY, first: $first, after: $after) {
    repositoryCount
    pageInfo { hasNextPage endCursor }
    nodes {
      ... on Repository {
        name
        nameWithOwner
        owner { login }
        diskUsage
        url
        sshUrl
        forkCount
        stargazerCount
        watchers { totalCount }
        createdAt
      }
    }
  }
}
"""


class GitHubError(PyccError):
    """The API could not answer (after retries), or refused the request."""


@dataclass
class RateLimit:
    limit: int | None = None
    remaining: int | None = None
    used: int | None = None
    reset: float | None = None  # epoch seconds
    resource: str | None = None


@dataclass
class SearchPage:
    repository_count: int
    nodes: list[dict]
    has_next_page: bool
    end_cursor: str | None


@dataclass
class ClientStats:
    calls: int = 0  # HTTP requests sent
    retries: int = 0
    waited_s: float = 0.0  # total time asked of sleep()
    waits: list = field(default_factory=list)  # (reason, seconds)


class GitHubClient:
    def __init__(self, token: str, api_url: str = DEFAULT_API_URL, *, timeout: float = 30.0,
                 max_retries: int = 6, backoff: float = 2.0, max_backoff: float = 300.0,
                 max_rate_limit_waits: int = 20, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, session: requests.Session | None = None):
        if not token:
            raise GitHubError("a GitHub token is needed")
        if not timeout > 0:
            raise OptionError("timeout", "must be positive")
        if max_retries < 0:
            raise OptionError("max_retries", "must be at least 0")
        self.api_url = api_url
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_rate_limit_waits = max_rate_limit_waits
        self._sleep = sleep
        self._clock = clock
        self.session = session or requests.Session()
        self.session.headers.update({
            "Authorization": f"bearer {token}",
            "User-Agent": "pycodecomplete-scraper",
            "Accept": "application/json",
        })
        self.rate = RateLimit()
        self.stats = ClientStats()

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    def close(self) -> None:
        self.session.close()

    # ---------------------------------------------------------------- calls --

    def search_repositories(self, query: str, first: int = PAGE_SIZE, after: str | None = None) -> SearchPage:
        data = self.graphql(SEARCH_QUERY, {"q": query, "first": first, "after": after})
        try:
            search = data["search"]
            info = search["pageInfo"]
            return SearchPage(
                repository_count=int(search["repositoryCount"]),
                nodes=[n for n in search["nodes"] if n],  # null entries: hidden or deleted repos
                has_next_page=bool(info["hasNextPage"]),
                end_cursor=info.get("endCursor"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise GitHubError(f"unexpected search response from {self.api_url} (missing {exc})") from None

    def graphql(self, query: str, variables: dict) -> dict:
        """POST one GraphQL request and return its `data`, retrying as the module doc says."""
        failures = 0
        rate_waits = 0
        last = "no attempt"
        while True:
            self._wait_for_quota()
            result, last, kind = self._attempt(query, variables)
            if kind == "ok":
                return result  # the data
            wait = result  # seconds the server asked for, or None
            if kind == "rate":
                rate_waits += 1
                if rate_waits > self.max_rate_limit_waits:
                    raise GitHubError(f"{self.api_url}: still rate limited after {rate_waits - 1} waits ({last})")
            else:
                failures += 1
                if failures > self.max_retries:
                    raise GitHubError(f"{self.api_url}: giving up after {failures} attempts: {last}")
                if wait is None:
                    wait = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
            self.stats.retries += 1
            log.warning("GitHub API: %s; retrying in %.0fs", last, wait)
            self._pause(wait, last)

    def _attempt(self, query: str, variables: dict):
        """One request. Returns (data, "", "ok") or (wait or None, reason, "rate" | "retry")."""
        self.stats.calls += 1
        try:
            resp = self.session.post(self.api_url, json={"query": query, "variables": variables},
                                     timeout=self.timeout)
        except requests.Timeout:
            return None, f"no answer within {self.timeout:g}s", "retry"
        except requests.ConnectionError as exc:
            return None, f"connection failed ({exc.__class__.__name__})", "retry"
        except requests.RequestException as exc:
            raise GitHubError(f"cannot call {self.api_url}: {exc.__class__.__name__}") from None
        self._read_rate_headers(resp.headers)
        status = resp.status_code
        if status in (403, 429):
            message = _message(resp)
            retry_after = _retry_after(resp.headers.get("retry-after"), self._clock())
            if retry_after is not None:
                return retry_after, f"secondary rate limit (HTTP {status}: {message})", "rate"
            if self.rate.remaining == 0 and self.rate.reset:
                return self._until_reset(), f"rate limit exhausted (HTTP {status})", "rate"
            if status == 429 or "rate limit" in message.lower():
                return max(60.0, self.backoff), f"secondary rate limit (HTTP {status}: {message})", "rate"
            raise GitHubError(f"{self.api_url} refused the request (HTTP {status}: {message})")
        if status == 401:
            raise GitHubError(f"{self.api_url} rejected the token (HTTP 401: {_message(resp)})")
        if status >= 500:
            return None, f"HTTP {status} from the server", "retry"
        if status >= 400:
            raise GitHubError(f"{self.api_url} answered HTTP {status}: {_message(resp)}")
        try:
            payload = resp.json()
        except ValueError:
            return None, f"malformed JSON in an HTTP {status} answer", "retry"
        if not isinstance(payload, dict):
            return None, "the answer is not a JSON object", "retry"
        errors = payload.get("errors")
        if errors:
            messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e)
                                 for e in errors)[:300]
            types = {e.get("type") for e in errors if isinstance(e, dict)}
            if "RATE_LIMITED" in types:
                wait = self._until_reset() if self.rate.reset else max(60.0, self.backoff)
                return wait, f"rate limited: {messages}", "rate"
            return None, f"the API returned errors: {messages}", "retry"
        data = payload.get("data")
        if not isinstance(data, dict):
            return None, "the answer has no data", "retry"
        return data, "", "ok"

    # ---------------------------------------------------------- rate limits --

    def _read_rate_headers(self, headers) -> None:
        def num(name):
            value = headers.get(name)
            try:
                return int(float(value)) if value is not None else None
            except ValueError:
                return None

        if headers.get("x-ratelimit-remaining") is None:
            return
        self.rate = RateLimit(limit=num("x-ratelimit-limit"), remaining=num("x-ratelimit-remaining"),
                              used=num("x-ratelimit-used"), reset=num("x-ratelimit-reset"),
                              resource=headers.get("x-ratelimit-resource"))

    def _until_reset(self) -> float:
        return max(1.0, (self.rate.reset or 0) - self._clock() + 1.0)

    def _wait_for_quota(self) -> None:
        if self.rate.remaining == 0 and self.rate.reset and self.rate.reset > self._clock():
            wait = self._until_reset()
            log.warning("GitHub API quota spent (%s/%s); waiting %.0fs for the reset",
                        self.rate.remaining, self.rate.limit, wait)
            self._pause(wait, "quota reset")
            self.rate.remaining = None  # unknown until the next answer

    def _pause(self, seconds: float, reason: str) -> None:
        self.stats.waited_s += seconds
        self.stats.waits.append((reason, seconds))
        self._sleep(seconds)


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])[:200]
    except ValueError:
        pass
    return (resp.reason or "no message")[:200]


def _retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a `retry-after` header: an integer, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, when.timestamp() - now)
