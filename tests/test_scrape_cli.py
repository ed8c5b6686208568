"""`pycc scrape` and `pycc clone` from the command line: bad input gives one clear line, good input works."""
from __future__ import annotations

import datetime as dt
import json
import logging
import socket

import pytest
import sqlalchemy as sa
from fake_github import FakeGitHub, spread_repos
from git_fixtures import make_bare_repo

from pycodecomplete import cli
from pycodecomplete.scraping.store import CLONED, RepositoryStore

TOKEN = "ghp_cliSECRET_abcdefghijklmnop"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, expected: str) -> None:
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and expected in lines[0], err


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'cli.sqlite'}"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)


@pytest.mark.parametrize("argv, expected", [
    (["--db", "nonsense"], "bad database URL 'nonsense'"),
    (["--db", "postgresql://u:pw@h/db"], "unsupported database 'postgresql'"),
    (["--created-from", "2020-13-01"], "--created-from '2020-13-01' is not a date"),
    (["--created-to", "yesterday"], "--created-to 'yesterday' is not a date"),
    (["--created-from", "2021-01-02", "--created-to", "2021-01-01"], "is after --created-to"),
    (["--query", "language:Python created:>2020-01-01"], "--query must not contain created:"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--http-timeout", "0"], "--http-timeout must be positive"),
    (["--table-prefix", "x;drop"], "bad table prefix"),
])
def test_scrape_bad_input(capsys, monkeypatch, sqlite_url, argv, expected):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    if "--db" not in argv:
        argv = ["--db", sqlite_url, *argv]
    code, out, err = run(capsys, "scrape", "--api-url", "http://127.0.0.1:9/graphql", *argv)
    assert_one_line_error(code, err, expected)
    assert TOKEN not in out + err


def test_scrape_unreachable_database(capsys, monkeypatch, closed_port):
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    code, _, err = run(capsys, "scrape", "--db", f"mysql+pymysql://root:hunter2@127.0.0.1:{closed_port}/test")
    assert_one_line_error(code, err, "cannot connect to database mysql+pymysql://root:***@127.0.0.1")
    assert "hunter2" not in err


def test_scrape_needs_a_token(capsys, sqlite_url):
    code, _, err = run(capsys, "scrape", "--db", sqlite_url)
    assert_one_line_error(code, err, "a GitHub token is needed: set GITHUB_TOKEN or pass --token-file")


def test_token_file_problems(capsys, sqlite_url, tmp_path):
    code, _, err = run(capsys, "scrape", "--db", sqlite_url, "--token-file", str(tmp_path / "missing"))
    assert_one_line_error(code, err, "cannot read --token-file")
    code, _, err = run(capsys, "scrape", "--db", sqlite_url, "--token-file", str(tmp_path))
    assert_one_line_error(code, err, "cannot read --token-file")
    (tmp_path / "empty").write_text("\n\n")
    code, _, err = run(capsys, "scrape", "--db", sqlite_url, "--token-file", str(tmp_path / "empty"))
    assert_one_line_error(code, err, "does not hold a token")
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00")
    code, _, err = run(capsys, "scrape", "--db", sqlite_url, "--token-file", str(tmp_path / "binary"))
    assert_one_line_error(code, err, "cannot read --token-file")


def test_wrong_token_is_one_line_and_not_shown(capsys, sqlite_url, tmp_path):
    with FakeGitHub([], token="the-right-one") as srv:
        (tmp_path / "token").write_text(TOKEN + "\n")
        code, out, err = run(capsys, "scrape", "--db", sqlite_url, "--api-url", srv.url,
                             "--token-file", str(tmp_path / "token"), "--no-progress")
    assert_one_line_error(code, err, "rejected the token (HTTP 401: Bad credentials)")
    assert TOKEN not in out + err


@pytest.mark.parametrize("argv, expected", [
    (["--workers", "0"], "--workers must be at least 1"),
    (["--timeout", "-1"], "--timeout must be positive"),
    (["--max-file-kb", "0"], "must be positive"),
    (["--limit", "0"], "--limit must be at least 1"),
    (["--db", "sqlite+nosuchdriver:///x"], "no driver"),
])
def test_clone_bad_input(capsys, sqlite_url, argv, expected):
    if "--db" not in argv:
        argv = ["--db", sqlite_url, *argv]
    code, _, err = run(capsys, "clone", *argv)
    assert_one_line_error(code, err, expected)


def test_scrape_then_clone_from_the_command_line(capsys, caplog, monkeypatch, tmp_path):
    """GITHUB_TOKEN from the environment, the default SQLite file in --data-dir, then clones."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    repos = spread_repos(130, dt.datetime(2019, 1, 1), dt.datetime(2019, 12, 31))
    bare = tmp_path / "bare"
    for i, repo in enumerate(repos[:3]):
        repo.clone_url = make_bare_repo(bare, repo.name, {f"{repo.name}/__init__.py": f"I = {i}\n"})
    for repo in repos[3:]:
        repo.stars = 500  # not matched by the default stars:>1000
    data = tmp_path / "data"
    with FakeGitHub(repos, token=TOKEN) as srv:
        code, out, err = run(capsys, "scrape", "--data-dir", str(data), "--api-url", srv.url,
                             "--created-from", "2018-06-01", "--created-to", "2020-01-01T00:00:00Z")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["repositories_seen"] == 3 and summary["complete"] and summary["query"] == \
        "language:Python stars:>1000"
    assert (data / "pycc.sqlite").exists()
    assert srv.requests[0].query.endswith("created:2018-06-01T00:00:00Z..2020-01-01T00:00:00Z")
    code, out, err = run(capsys, "clone", "--data-dir", str(data), "--workers", "2")
    assert code == 0, err
    cloned = json.loads(out)
    assert cloned["cloned"] == 3 and cloned["py_files"] == 3
    assert sorted(p.relative_to(data / "clones").as_posix() for p in (data / "clones").rglob("*.py")) == \
        sorted(f"{r.owner}/{r.name}/{r.name}/__init__.py" for r in repos[:3])
    store = RepositoryStore.open(f"sqlite:///{data / 'pycc.sqlite'}")
    assert store.clone_status_counts() == {CLONED: 3}
    with store.engine.connect() as conn:
        for table in (store.repositories, store.slices):
            for row in conn.execute(sa.select(table)):
                assert not any(TOKEN in str(v) for v in row)
    store.close()
    assert TOKEN not in caplog.text and TOKEN not in out + err


def test_help_explains_every_flag(capsys):
    for command in ("scrape", "clone", "retrain"):
        with pytest.raises(SystemExit) as exc:
            cli.main([command, "--help"])
        assert exc.value.code == 0
        text = capsys.readouterr().out
        for flag in ("--db", "--data-dir", "--progress"):
            assert flag in text
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for command in ("scrape", "clone", "retrain"):
        for action in sub.choices[command]._actions:
            assert action.help, f"{command} {action.option_strings} has no help"
