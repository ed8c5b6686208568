"""The GraphQL client against the fake GitHub: retries, rate limits, faults, and the token."""
from __future__ import annotations

import datetime as dt
import logging

import pytest
from fake_github import FakeClock, FakeGitHub, FakeRepo, spread_repos

from pycodecomplete.scraping.github import GitHubClient, GitHubError

TOKEN = "ghp_SECRETtoken1234567890abcdef"
QUERY = "language:Python stars:>1000"


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def server(clock):
    repos = spread_repos(250, dt.datetime(2015, 1, 1), dt.datetime(2016, 1, 1))
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        yield srv


def make_client(server, clock, **kw):
    kw.setdefault("max_retries", 4)
    return GitHubClient(TOKEN, server.url, sleep=clock.sleep, clock=clock.time, **kw)


def test_pages_with_cursors(server, clock):
    client = make_client(server, clock)
    seen, cursor = [], None
    while True:
        page = client.search_repositories(QUERY, after=cursor)
        assert page.repository_count == 250
        seen += [n["nameWithOwner"] for n in page.nodes]
        if not page.has_next_page:
            break
        cursor = page.end_cursor
    assert len(seen) == len(set(seen)) == 250
    assert client.stats.calls == 3 and clock.sleeps == []
    assert client.rate.remaining == 5000 - 3 and client.rate.limit == 5000 and client.rate.resource == "graphql"


@pytest.mark.parametrize("fault", ["502", "504", "errors", "errors-partial", "malformed"])
def test_transient_faults_are_retried_with_backoff(server, clock, fault):
    server.faults = [fault, fault]
    client = make_client(server, clock, backoff=3.0)
    page = client.search_repositories(QUERY)
    assert page.repository_count == 250 and len(page.nodes) == 100  # never an empty page
    assert clock.sleeps == [3.0, 6.0]  # exponential
    assert client.stats.calls == 3


def test_backoff_is_bounded_and_gives_up(server, clock):
    server.faults = ["502"] * 10
    client = make_client(server, clock, max_retries=3, backoff=10, max_backoff=25)
    with pytest.raises(GitHubError, match=r"giving up after 4 attempts: HTTP 502"):
        client.search_repositories(QUERY)
    assert clock.sleeps == [10, 20, 25]


def test_errors_in_a_200_are_reported_not_taken_as_empty(server, clock):
    server.faults = ["errors-partial"] * 3
    client = make_client(server, clock, max_retries=2)
    with pytest.raises(GitHubError, match="returned errors: Timeout on validation of query"):
        client.search_repositories(QUERY)


def test_secondary_rate_limit_honours_retry_after(server, clock):
    server.retry_after = 42
    server.faults = ["secondary"]
    client = make_client(server, clock)
    assert len(client.search_repositories(QUERY).nodes) == 100
    assert clock.sleeps == [42.0]


def test_graphql_rate_limited_error_waits_for_the_reset(server, clock):
    server.faults = ["rate-limited"]
    client = make_client(server, clock)
    start, reset = clock.time(), server._window_reset
    client.search_repositories(QUERY)
    assert len(clock.sleeps) == 1 and abs(start + clock.sleeps[0] - (reset + 1)) < 1.5


def test_spent_quota_waits_for_the_reset_before_the_next_call(clock):
    repos = spread_repos(500, dt.datetime(2015, 1, 1), dt.datetime(2016, 1, 1))
    with FakeGitHub(repos, token=TOKEN, clock=clock, rate_limit=2, rate_window=600) as srv:
        client = make_client(srv, clock)
        cursor, pages = None, 0
        while True:
            page = client.search_repositories(QUERY, after=cursor)
            pages += 1
            if not page.has_next_page:
                break
            cursor = page.end_cursor
        assert pages == 5
        # Quota of 2 per 600 s window: after every 2nd call the client sleeps to the reset, so the
        # server never has to refuse a call.
        assert len(clock.sleeps) == 2 and all(590 <= s <= 602 for s in clock.sleeps)
        assert all(r.status == 200 for r in srv.requests)


def test_a_403_from_a_spent_quota_waits_for_the_reset(clock):
    repos = spread_repos(50, dt.datetime(2015, 1, 1), dt.datetime(2016, 1, 1))
    with FakeGitHub(repos, token=TOKEN, clock=clock, rate_limit=1, rate_window=300) as srv:
        other = make_client(srv, clock)
        other.search_repositories(QUERY)  # someone else spends the shared quota
        client = make_client(srv, clock)  # knows nothing of it yet
        assert len(client.search_repositories(QUERY).nodes) == 50
        assert [r.status for r in srv.requests] == [200, 403, 200]
        assert len(clock.sleeps) == 1 and 290 <= clock.sleeps[0] <= 302


def test_timeouts_are_retried(clock):
    repos = spread_repos(10, dt.datetime(2015, 1, 1), dt.datetime(2016, 1, 1))
    with FakeGitHub(repos, token=TOKEN, clock=clock, hang_s=1.0) as srv:
        srv.faults = ["hang"]
        client = make_client(srv, clock, timeout=0.3)
        assert len(client.search_repositories(QUERY).nodes) == 10
        assert client.stats.calls == 2 and clock.sleeps == [2.0]


def test_connection_refused_is_retried_then_reported(clock):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = GitHubClient(TOKEN, f"http://127.0.0.1:{port}/graphql", sleep=clock.sleep, clock=clock.time,
                          max_retries=2)
    with pytest.raises(GitHubError, match="giving up after 3 attempts: connection failed"):
        client.search_repositories(QUERY)


def test_bad_token_is_refused_at_once(server, clock):
    client = GitHubClient("wrong-token", server.url, sleep=clock.sleep, clock=clock.time)
    with pytest.raises(GitHubError, match=r"rejected the token \(HTTP 401: Bad credentials\)") as exc:
        client.search_repositories(QUERY)
    assert "wrong-token" not in str(exc.value) and clock.sleeps == []


def test_missing_token():
    with pytest.raises(GitHubError, match="a GitHub token is needed"):
        GitHubClient("", "http://127.0.0.1:1/graphql")


def test_token_is_sent_but_never_logged_or_shown(server, clock, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 and our own debug lines included
    server.faults = ["502", "secondary", "errors", "malformed", "rate-limited"]
    client = make_client(server, clock, max_retries=10)
    client.search_repositories(QUERY)
    assert server.requests[-1].authorization == f"bearer {TOKEN}"
    assert caplog.records, "expected retry warnings in the log"
    assert TOKEN not in caplog.text
    assert TOKEN not in repr(client) and TOKEN not in str(client.stats)
    server.faults = ["502"] * 20
    with pytest.raises(GitHubError) as exc:
        client.search_repositories(QUERY)
    assert TOKEN not in str(exc.value) and TOKEN not in repr(exc.value)


def test_search_sub_day_ranges_on_the_fake(server, clock):
    """The fake honours second-resolution created: ranges, as GitHub does."""
    repos = [FakeRepo("o", f"r{i}", dt.datetime(2021, 6, 15, 12, 0, i)) for i in range(10)]
    with FakeGitHub(repos, token=TOKEN, clock=clock) as srv:
        client = make_client(srv, clock)
        page = client.search_repositories("language:Python created:2021-06-15T12:00:03Z..2021-06-15T12:00:05Z")
        assert sorted(n["name"] for n in page.nodes) == ["r3", "r4", "r5"]
        assert client.search_repositories("created:2021-06-15..2021-06-15").repository_count == 10
        assert client.search_repositories("created:>2021-06-15").repository_count == 0
        assert client.search_repositories("created:>=2021-06-15T12:00:08Z").repository_count == 2
