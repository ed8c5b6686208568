"""Database fixtures shared by the scraping tests: the same tests on SQLite and MariaDB.

MariaDB is the real server on 127.0.0.1:3306 (user root, no password, database
`test`). Without it the MariaDB variants skip, except under CI=true, where they
fail. Each test gets its own table prefix and drops its tables afterwards, so
tests (and people) sharing the server never see each other's rows.

A pytest plugin (`tests/conftest.py` lists it in `pytest_plugins`): test modules use the fixtures by name.
"""
from __future__ import annotations

import os
import uuid

import pytest

MARIADB_HOST, MARIADB_PORT = "127.0.0.1", 3306
MARIADB_URL = f"mysql+pymysql://root@{MARIADB_HOST}:{MARIADB_PORT}/test"

_available: bool | None = None
_reason = ""


def mariadb_available() -> bool:
    global _available, _reason
    if _available is None:
        try:
            import pymysql

            conn = pymysql.connect(host=MARIADB_HOST, port=MARIADB_PORT, user="root", database="test",
                                   connect_timeout=3)
            conn.close()
            _available = True
        except Exception as exc:  # refused, unknown database, access denied...
            _available, _reason = False, f"{exc.__class__.__name__}: {exc}"
    return _available


def require_mariadb() -> str:
    """The MariaDB URL, or skip (fail under CI=true) when the server is not there."""
    if not mariadb_available():
        message = f"MariaDB on {MARIADB_HOST}:{MARIADB_PORT} is unreachable ({_reason})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}; it is required when CI=true")
        pytest.skip(message)
    return MARIADB_URL


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}_"


@pytest.fixture(params=["sqlite", pytest.param("mariadb", marks=pytest.mark.mariadb)])
def db_url(request, tmp_path) -> str:
    """A database URL: an SQLite file in tmp_path, or the MariaDB server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'repos.sqlite'}"
    return require_mariadb()


@pytest.fixture
def table_prefix() -> str:
    return unique_prefix()


@pytest.fixture
def store(db_url, table_prefix):
    """A RepositoryStore with fresh tables (unique prefix), dropped after the test."""
    from pycodecomplete.scraping.store import RepositoryStore

    s = RepositoryStore.open(db_url, prefix=table_prefix)
    yield s
    try:
        s.drop_schema()
    finally:
        s.close()
