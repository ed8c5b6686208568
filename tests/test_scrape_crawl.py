"""The scrape as a whole: completeness under the 1,000 cap, resuming, and kill -9 (SQLite and MariaDB)."""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fake_github import FakeClock, FakeGitHub, FakeRepo, spread_repos

from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.scraping.github import GitHubClient
from pycodecomplete.scraping.scrape import ScrapeRequest, Scraper, halve
from pycodecomplete.scraping.store import SLICE_CAPPED, SLICE_DONE, SLICE_PENDING, SLICE_SPLIT

TOKEN = "ghp_crawlSECRET0987654321"
ROOT = Path(__file__).resolve().parent.parent
BIG_DAY = dt.datetime(2021, 6, 15)
FROM, TO = dt.datetime(2008, 1, 1), dt.datetime(2023, 12, 31, 23, 59, 59)


def dataset() -> tuple[list[FakeRepo], set[str]]:
    """2,500 matching repositories created on one day, 400 spread over years, and some that must not match."""
    # 2,500 spread over the day: any range holding fewer than 1,000 spans less than 0.4 days, so its
    # parent, shorter than a day, held 1,000 or more and had to be split (wherever the halving cuts fall).
    one_day = spread_repos(2500, BIG_DAY, BIG_DAY + dt.timedelta(hours=23, minutes=59, seconds=59), prefix="day")
    years = spread_repos(400, dt.datetime(2009, 3, 1), dt.datetime(2023, 11, 1), prefix="yr")
    few = spread_repos(30, BIG_DAY, BIG_DAY + dt.timedelta(hours=5), prefix="few")
    for r in few:
        r.stars = 1000  # not more than 1000
    others = (few
              + spread_repos(30, BIG_DAY, BIG_DAY + dt.timedelta(hours=5), prefix="js", language="JavaScript")
              + spread_repos(5, dt.datetime(2024, 2, 1), dt.datetime(2024, 3, 1), prefix="late"))
    expected = {r.name_with_owner for r in one_day + years}
    return one_day + years + others, expected


def names_in(store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(store.repositories.c.name_with_owner)).scalars())


def run_scrape(server, store, clock, **request):
    client = GitHubClient(TOKEN, server.url, sleep=clock.sleep, clock=clock.time)
    request.setdefault("created_from", FROM)
    request.setdefault("created_to", TO)
    return Scraper(client, store, progress=False).run(ScrapeRequest(**request)), client


def test_halve_covers_the_range_at_second_resolution():
    a, b = dt.datetime(2021, 6, 15), dt.datetime(2021, 6, 15, 23, 59, 59)
    (a1, b1), (a2, b2) = halve(a, b)
    assert a1 == a and b2 == b and a2 - b1 == dt.timedelta(seconds=1)
    assert halve(a, a) is None
    assert halve(a, a + dt.timedelta(seconds=1)) == [(a, a), (a + dt.timedelta(seconds=1),) * 2]


def test_more_than_1000_on_one_day_are_all_found_exactly_once(store):
    repos, expected = dataset()
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        summary, client = run_scrape(srv, store, clock)
    names = names_in(store)
    assert len(names) == len(set(names)) == len(expected) == 2900
    assert set(names) == expected
    assert summary["complete"] and summary["repositories_seen"] == 2900 and summary["repository_count"] == 2900
    assert summary["slices_capped"] == 0
    slices = store.slices_for(summary_key(store))
    assert {s.status for s in slices} <= {SLICE_DONE, SLICE_SPLIT}
    # The big day itself held 1,500: it had to be split below day granularity.
    sub_day_done = [s for s in slices if s.status == SLICE_DONE and s.repository_count
                    and s.range_to - s.range_from < dt.timedelta(days=1)]
    assert sub_day_done, "no slice below a day was read"
    sub_day_splits = [s for s in slices if s.status == SLICE_SPLIT and s.range_to - s.range_from < dt.timedelta(days=1)]
    assert sub_day_splits and all(s.repository_count >= 1000 for s in sub_day_splits)
    # Every slice that was read in full stayed under the cap and delivered all it announced.
    for s in slices:
        if s.status == SLICE_DONE:
            assert s.repository_count < 1000 and s.fetched == s.repository_count
    # No query ever had to page beyond the cap.
    assert all(r.after is None or int(__import__("base64").b64decode(r.after).decode().split(":")[1]) < 1000
               for r in srv.requests)
    assert summary["api_calls"] == client.stats.calls == len(srv.requests)


def summary_key(store) -> str:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(store.slices.c.query_key).limit(1)).scalar_one()


def test_one_second_over_the_cap_is_reported_as_capped(store, caplog):
    moment = dt.datetime(2022, 2, 2, 2, 2, 2)
    repos = [FakeRepo("same", f"s{i:04d}", moment) for i in range(1010)]
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        with caplog.at_level(logging.WARNING):
            summary, _ = run_scrape(srv, store, clock, created_from=moment - dt.timedelta(seconds=3),
                                    created_to=moment + dt.timedelta(seconds=3))
    assert summary["slices_capped"] == 1 and summary["complete"]
    assert len(names_in(store)) == 1000
    assert "cannot be split" in caplog.text and "10 could not be reached" in caplog.text
    assert any(s.status == SLICE_CAPPED for s in store.slices_for(summary_key(store)))


def test_limit_stops_and_a_second_run_resumes(store):
    repos, expected = dataset()
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        first, _ = run_scrape(srv, store, clock, limit=250)
        assert first["repositories_seen"] == 250 and not first["complete"] and first["slices_left"] > 0
        assert len(names_in(store)) == 250
        calls_first = len(srv.requests)
        second, _ = run_scrape(srv, store, clock)
        assert second["resumed"] and second["complete"]
        assert set(names_in(store)) == expected and len(names_in(store)) == 2900
        third, _ = run_scrape(srv, store, clock)  # already complete: no API call at all
        assert third["api_calls"] == 0 and third["complete"]
        assert len(srv.requests) == calls_first + second["api_calls"]


def test_a_slice_that_grew_past_the_cap_while_paused_is_split_on_resume(store):
    day = dt.datetime(2022, 3, 3)
    repos = spread_repos(950, day, day + dt.timedelta(hours=20), prefix="a")
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        first, _ = run_scrape(srv, store, clock, limit=300)
        assert first["slices_split"] == 0 and first["repositories_seen"] == 300
        assert store.slices_for(summary_key(store))[0].cursor is not None
        grown = spread_repos(100, day, day + dt.timedelta(hours=20), prefix="b")
        srv.repos = sorted(srv.repos + grown, key=lambda r: (-r.stars, r.name_with_owner.lower()))
        second, _ = run_scrape(srv, store, clock)
    assert second["slices_split"] >= 1 and second["slices_capped"] == 0 and second["complete"]
    assert set(names_in(store)) == {r.name_with_owner for r in repos + grown}


def test_fresh_scrape_updates_rows(store):
    repos = spread_repos(120, dt.datetime(2015, 1, 1), dt.datetime(2015, 6, 1))
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        run_scrape(srv, store, clock)
        repos[0].stars = 123456
        again, _ = run_scrape(srv, store, clock, fresh=True)
    assert again["api_calls"] == 2 and again["new_repositories"] == 0
    assert store.get_repository(repos[0].name_with_owner)["star_count"] == 123456
    assert store.count_repositories() == 120


def test_scrape_survives_faults_midway(store):
    repos, expected = dataset()
    clock = FakeClock()
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        # None is a normal answer: the faults hit the crawl after it has started splitting.
        srv.faults = [None] * 5 + ["502", None, "secondary", "errors", None, "malformed", "errors-partial",
                                   None, None, "rate-limited"]
        summary, client = run_scrape(srv, store, clock)
    assert summary["complete"] and set(names_in(store)) == expected
    assert client.stats.retries == 6


def test_bad_requests(store):
    with pytest.raises(PyccError, match="created:"):
        ScrapeRequest(FROM, TO, query="language:Python created:>2020-01-01").base_query()
    clock = FakeClock()
    with FakeGitHub([], token=TOKEN, clock=clock) as srv:
        with pytest.raises(PyccError, match="is after"):
            run_scrape(srv, store, clock, created_from=TO, created_to=FROM)
        with pytest.raises(OptionError, match="limit must be at least 1"):
            run_scrape(srv, store, clock, limit=0)
    assert ScrapeRequest(FROM, TO, query="x stars:>5", min_stars=1000).base_query() == "x stars:>5"
    assert ScrapeRequest(FROM, TO, min_stars=None).base_query() == "language:Python"


def _cli(db: str, prefix: str, api_url: str) -> list[str]:
    return [sys.executable, "-m", "pycodecomplete", "scrape", "--db", db, "--table-prefix", prefix,
            "--api-url", api_url, "--created-from", "2008-01-01", "--created-to", "2023-12-31", "--no-progress"]


def test_kill_9_midway_then_rerun_finds_every_repository_exactly_once(store, db_url, table_prefix, tmp_path):
    repos, expected = dataset()
    env = {**os.environ, "GITHUB_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    with FakeGitHub(repos, token=TOKEN, clock=FakeClock(), delay=0.02) as srv:
        for kill_at in (8, 19):  # two kills, at different points of the crawl
            proc = subprocess.Popen(_cli(db_url, table_prefix, srv.url), cwd=ROOT, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while len(srv.requests) < kill_at and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            assert proc.poll() is None, "the scrape finished before it could be killed"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            partial = names_in(store)
            assert len(partial) == len(set(partial)) < len(expected)
        done = subprocess.run(_cli(db_url, table_prefix, srv.url), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    import json
    summary = json.loads(done.stdout)
    assert summary["resumed"] and summary["complete"] and summary["repositories_seen"] < len(expected)
    names = names_in(store)
    assert len(names) == len(set(names)) == len(expected) and set(names) == expected
    assert not store.slices_for(summary_key(store), (SLICE_PENDING,))
    # The token reached the server, and nowhere else.
    assert all(r.authorization == f"bearer {TOKEN}" for r in srv.requests)
    assert TOKEN not in done.stdout + done.stderr
    with store.engine.connect() as conn:
        for table in (store.repositories, store.slices):
            for row in conn.execute(sa.select(table)):
                assert not any(TOKEN in str(v) for v in row)
