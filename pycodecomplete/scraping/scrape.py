"""`pycc scrape`: every repository a GitHub search matches, into the `repositories` table.

GitHub's search returns at most 1,000 results per query while `repositoryCount`
tells the true total. So the query is cut into `created:` slices: a slice whose
first page says it holds 1,000 or more is halved (its first page is stored all
the same), again and again, below a day and down to a single second where
needed, until every slice fits under the cap and can be read in full with
cursors, 100 at a time.

Progress lives in the `scrape_slices` table: each slice with its status and the
cursor after the last page stored. A page and its cursor are written in one
transaction, so a scrape killed at any moment resumes from its last page, and the
upserts make any page read twice harmless.

A slice of one second that still holds 1,000 or more cannot be split further
by date; it is read up to the cap, marked `capped`, and reported.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import time
from dataclasses import dataclass

from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.scraping.github import PAGE_SIZE, RESULT_CAP, GitHubClient
from pycodecomplete.scraping.store import SLICE_PENDING, RepositoryStore

log = logging.getLogger(__name__)

DEFAULT_QUERY = "language:Python"
DEFAULT_MIN_STARS = 1000  # the design: repositories with over 1000 stars
DEFAULT_CREATED_FROM = dt.datetime(2007, 10, 1)  # before GitHub's first public repositories
_SECOND = dt.timedelta(seconds=1)


@dataclass
class ScrapeRequest:
    created_from: dt.datetime  # inclusive, naive UTC
    created_to: dt.datetime  # inclusive, naive UTC
    query: str = DEFAULT_QUERY
    min_stars: int | None = DEFAULT_MIN_STARS  # more than this many stars; None for no filter
    limit: int | None = None  # stop after this many repositories (the rest stays pending)
    fresh: bool = False  # forget the progress of an earlier scrape of the same query and range

    def base_query(self) -> str:
        query = " ".join(self.query.split())
        if re.search(r"(^|\s)-?created:", query):
            raise OptionError("query", "must not contain created: (the date range is created_from and created_to)",
                              related=("created_from", "created_to"))
        if self.min_stars is not None and not re.search(r"(^|\s)stars:", query):
            query = f"{query} stars:>{self.min_stars}".strip()
        if not query:
            raise PyccError("the search query is empty")
        return query

    def validate(self) -> "ScrapeRequest":
        if self.created_from > self.created_to:
            raise OptionError("created_from", f"{_iso(self.created_from)} is after created_to "
                                              f"{_iso(self.created_to)}", related=("created_to",))
        if self.limit is not None and self.limit < 1:
            raise OptionError("limit", "must be at least 1")
        self.base_query()
        return self

    def key(self) -> str:
        text = f"{self.base_query()}\n{_iso(self.created_from)}\n{_iso(self.created_to)}"
        return hashlib.sha256(text.encode()).hexdigest()


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_when(value: str, field: str, end: bool = False) -> dt.datetime:
    """YYYY-MM-DD (a whole day: its first or, with `end`, last second) or an ISO datetime, as naive UTC."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.datetime.strptime(text, "%Y-%m-%d")
            return day + dt.timedelta(days=1, seconds=-1) if end else day
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(field, f"{value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def end_of_today() -> dt.datetime:
    """The last second of today (UTC): a stable default end, so a resumed scrape finds its progress."""
    today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).date()
    return dt.datetime.combine(today, dt.time(23, 59, 59))


def slice_query(base: str, start: dt.datetime, end: dt.datetime) -> str:
    return f"{base} created:{_iso(start)}..{_iso(end)}"


def halve(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]] | None:
    """Two inclusive ranges covering [start, end] at second resolution, or None for one second."""
    seconds = int((end - start).total_seconds())
    if seconds < 1:
        return None
    middle = start + dt.timedelta(seconds=seconds // 2)
    return [(start, middle), (middle + _SECOND, end)]


def parse_github_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment


def node_to_row(node: dict) -> dict:
    """A search node (a Repository) as a row of the `repositories` table."""
    owner = (node.get("owner") or {}).get("login") or node["nameWithOwner"].split("/", 1)[0]
    return {
        "name_with_owner": node["nameWithOwner"],
        "owner": owner,
        "name": node.get("name") or node["nameWithOwner"].split("/", 1)[-1],
        "url": node.get("url") or f"https://github.com/{node['nameWithOwner']}",
        "ssh_url": node.get("sshUrl"),
        "disk_usage": node.get("diskUsage"),
        "fork_count": node.get("forkCount"),
        "star_count": node.get("stargazerCount"),
        "watcher_count": (node.get("watchers") or {}).get("totalCount"),
        "created_at": parse_github_time(node.get("createdAt")),
    }


class Scraper:
    def __init__(self, client: GitHubClient, store: RepositoryStore, progress: bool = True):
        self.client = client
        self.store = store
        self.progress = progress

    def run(self, request: ScrapeRequest) -> dict:
        request.validate()
        base, key = request.base_query(), request.key()
        started = time.monotonic()
        calls_before = self.client.stats.calls
        existing = self.store.slices_for(key)
        if existing and request.fresh:
            self.store.delete_slices(key)
            existing = []
        resumed = bool(existing)
        if not existing:
            self.store.add_slices(key, base, [(request.created_from, request.created_to)])
        stack = self.store.slices_for(key, (SLICE_PENDING,))
        summary = {
            "query": base, "created_from": _iso(request.created_from), "created_to": _iso(request.created_to),
            "resumed": resumed, "api_calls": 0, "pages": 0, "repositories_seen": 0,
            "new_repositories": 0, "slices_split": 0, "slices_done": 0, "slices_capped": 0,
        }
        if not stack:
            log.info("scrape of %r %s..%s is already complete (use --fresh to scrape again)",
                     base, _iso(request.created_from), _iso(request.created_to))
        seen: set[str] = set()
        total = self._top_count(key)

        from tqdm import tqdm
        bar = tqdm(total=total, unit="repo", desc="scrape", disable=not self.progress, dynamic_ncols=True)
        stopped = False
        try:
            while stack and not stopped:
                current = stack.pop(0)
                query = slice_query(base, current.range_from, current.range_to)
                cursor = current.cursor
                while True:
                    remaining = None if request.limit is None else request.limit - len(seen)
                    if remaining is not None and remaining <= 0:
                        stopped = True
                        stack.insert(0, current)
                        break
                    page = self.client.search_repositories(
                        query, first=min(PAGE_SIZE, remaining or PAGE_SIZE), after=cursor)
                    summary["pages"] += 1
                    rows = [node_to_row(n) for n in page.nodes if n.get("nameWithOwner")]
                    count = page.repository_count
                    if bar.total is None and current.depth == 0 and cursor is None:
                        bar.total = count
                        bar.refresh()
                    # Split whenever the slice holds too many, even half-read (it may have grown since
                    # a cursor was saved): the pages already stored are just upserted again later.
                    halves = halve(current.range_from, current.range_to) if count >= RESULT_CAP else None
                    if halves:
                        summary["new_repositories"] += self.store.split_slice(current, key, base, rows, count, halves)
                        children = [s for s in self.store.slices_for(key, (SLICE_PENDING,))
                                    if (s.range_from, s.range_to) in halves]
                        stack[:0] = children
                        summary["slices_split"] += 1
                        log.debug("split %s..%s (%d repositories) in two", _iso(current.range_from),
                                  _iso(current.range_to), count)
                        self._seen(rows, seen, bar)
                        break
                    next_cursor = page.end_cursor or cursor
                    done = not page.has_next_page or next_cursor == cursor
                    capped = done and count >= RESULT_CAP
                    summary["new_repositories"] += self.store.save_page(
                        current.id, rows, cursor=next_cursor, count=count, done=done, capped=capped)
                    self._seen(rows, seen, bar)
                    if capped:
                        summary["slices_capped"] += 1
                        log.warning("slice %s holds %d repositories, more than GitHub's %d-result cap, "
                                    "and cannot be split by created: any further; %d could not be reached",
                                    _iso(current.range_from), count, RESULT_CAP, count - RESULT_CAP)
                    elif done:
                        summary["slices_done"] += 1
                    if done:
                        break
                    cursor = next_cursor
                bar.set_postfix(slices_left=len(stack), quota=self._quota(), refresh=False)
        finally:
            bar.close()
        summary.update(
            api_calls=self.client.stats.calls - calls_before,
            repositories_seen=len(seen),
            slices_left=len(self.store.slices_for(key, (SLICE_PENDING,))),
            repository_count=self._top_count(key),
            rate_limit_remaining=self.client.rate.remaining,
            seconds=round(time.monotonic() - started, 2),
        )
        summary["complete"] = summary["slices_left"] == 0
        summary["repositories_in_table"] = self.store.count_repositories()
        return summary

    def _top_count(self, key: str) -> int | None:
        """What GitHub said the whole range holds (None before the first call)."""
        top = [s for s in self.store.slices_for(key) if s.depth == 0]
        return top[0].repository_count if top else None

    def _seen(self, rows: list[dict], seen: set[str], bar) -> None:
        before = len(seen)
        seen.update(r["name_with_owner"] for r in rows)
        bar.update(len(seen) - before)

    def _quota(self) -> str:
        rate = self.client.rate
        return "?" if rate.remaining is None else f"{rate.remaining}/{rate.limit}"
