"""The repository tables: schema, upserts, slice progress and clone records, on SQLite and MariaDB."""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from pycodecomplete.errors import PyccError
from pycodecomplete.scraping.store import (CLONED, FAILED, PENDING, SLICE_DONE, SLICE_PENDING, SLICE_SPLIT,
                                           RepositoryStore, create_db_engine, redact_url)


def row(name: str, stars: int = 1500, **kw) -> dict:
    owner, repo = name.split("/")
    base = dict(name_with_owner=name, owner=owner, name=repo, url=f"https://github.com/{name}",
                ssh_url=f"git@github.com:{name}.git", disk_usage=1234, fork_count=3, star_count=stars,
                watcher_count=40, created_at=dt.datetime(2020, 5, 17, 8, 30, 0))
    base.update(kw)
    return base


def all_rows(store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.select(store.repositories))]


def test_schema_has_the_design_columns_and_crawl_columns(store):
    columns = {c["name"] for c in sa.inspect(store.engine).get_columns(store.repositories.name)}
    assert {"name", "owner", "name_with_owner", "disk_usage", "url", "ssh_url", "fork_count", "star_count",
            "watcher_count"} <= columns
    assert {"created_at", "first_seen", "last_seen", "clone_status", "cloned_commit", "py_files", "py_bytes",
            "last_error"} <= columns
    uniques = sa.inspect(store.engine).get_unique_constraints(store.repositories.name)
    indexes = sa.inspect(store.engine).get_indexes(store.repositories.name)
    assert any(u["column_names"] == ["name_with_owner"] for u in uniques) or \
        any(i["column_names"] == ["name_with_owner"] and i.get("unique") for i in indexes)


def test_schema_creation_is_idempotent(store, db_url, table_prefix):
    store.upsert_repositories([row("a/one")])
    again = RepositoryStore.open(db_url, prefix=table_prefix)  # create_all on existing tables
    try:
        assert again.count_repositories() == 1
    finally:
        again.close()


def test_upsert_inserts_then_updates_without_duplicates(store):
    t0 = dt.datetime(2024, 1, 1, 12, 0, 0)
    t1 = dt.datetime(2024, 2, 1, 12, 0, 0)
    assert store.upsert_repositories([row("a/one"), row("b/two"), row("a/one")], seen_at=t0) == 2
    assert store.upsert_repositories([row("a/one", stars=9999, fork_count=7), row("c/three")], seen_at=t1) == 1
    rows = {r["name_with_owner"]: r for r in all_rows(store)}
    assert sorted(rows) == ["a/one", "b/two", "c/three"]
    one = rows["a/one"]
    assert one["star_count"] == 9999 and one["fork_count"] == 7
    assert one["first_seen"] == t0 and one["last_seen"] == t1
    assert rows["b/two"]["last_seen"] == t0
    assert one["created_at"] == dt.datetime(2020, 5, 17, 8, 30, 0)


def test_upsert_keeps_clone_results(store):
    store.upsert_repositories([row("a/one")])
    store.record_clone("a/one", status=CLONED, commit="ab" * 20, py_files=3, py_bytes=300)
    store.upsert_repositories([row("a/one", stars=5)])  # seen again by a later scrape
    got = store.get_repository("a/one")
    assert got["clone_status"] == CLONED and got["cloned_commit"] == "ab" * 20
    assert got["py_files"] == 3 and got["py_bytes"] == 300 and got["star_count"] == 5


def test_many_rows_in_batches(store):
    rows = [row(f"o{i % 13}/r{i}", stars=i) for i in range(1234)]
    assert store.upsert_repositories(rows) == 1234
    assert store.upsert_repositories(rows[:700]) == 0
    assert store.count_repositories() == 1234


def test_clone_queue_and_records(store):
    store.upsert_repositories([row("a/one", stars=10), row("b/two", stars=20), row("c/three", stars=30)])
    assert [r["name_with_owner"] for r in store.repositories_to_clone()] == ["c/three", "b/two", "a/one"]
    store.record_clone("c/three", status=CLONED, commit="c" * 40, py_files=1, py_bytes=10)
    store.record_clone("b/two", status=FAILED, error="fatal: repository not found " + "x" * 2000)
    queue = [r["name_with_owner"] for r in store.repositories_to_clone()]
    assert queue == ["b/two", "a/one"]  # failed ones are retried, cloned ones are not
    assert len(store.repositories_to_clone(refresh=True)) == 3
    assert len(store.repositories_to_clone(limit=1)) == 1
    assert len(store.get_repository("b/two")["last_error"]) == 1000
    assert store.clone_status_counts() == {CLONED: 1, FAILED: 1, PENDING: 1}


def test_slice_progress_split_and_pages(store):
    a, b = dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 2, 23, 59, 59)
    store.add_slices("k" * 64, "language:Python", [(a, b)])
    store.add_slices("k" * 64, "language:Python", [(a, b)])  # idempotent
    (top,) = store.slices_for("k" * 64)
    assert top.status == SLICE_PENDING and top.cursor is None and top.depth == 0
    mid = dt.datetime(2020, 1, 2, 0, 0, 0)
    halves = [(a, mid - dt.timedelta(seconds=1)), (mid, b)]
    assert store.split_slice(top, "k" * 64, "language:Python", [row("a/one")], 1500, halves) == 1
    pending = store.slices_for("k" * 64, (SLICE_PENDING,))
    assert [(s.range_from, s.range_to, s.depth) for s in pending] == [(*halves[0], 1), (*halves[1], 1)]
    assert store.slices_for("k" * 64, (SLICE_SPLIT,))[0].repository_count == 1500
    first = pending[0]
    assert store.save_page(first.id, [row("a/one"), row("b/two")], cursor="Y3Vyc29yOjI=", count=2,
                           done=False) == 1
    again = store.slices_for("k" * 64, (SLICE_PENDING,))[0]
    assert again.cursor == "Y3Vyc29yOjI=" and again.fetched == 2
    store.save_page(first.id, [], cursor="Y3Vyc29yOjI=", count=2, done=True)
    assert store.slices_for("k" * 64, (SLICE_DONE,))[0].id == first.id
    store.delete_slices("k" * 64)
    assert store.slices_for("k" * 64) == []


def test_page_and_cursor_commit_together(store, monkeypatch):
    """A failure between the page's rows and its cursor leaves neither (one transaction)."""
    a, b = dt.datetime(2020, 1, 1), dt.datetime(2020, 1, 1, 23, 59, 59)
    store.add_slices("q" * 64, "x", [(a, b)])
    (s,) = store.slices_for("q" * 64)
    real = store.slices.update

    def broken_update(*args, **kwargs):
        raise RuntimeError("killed between the rows and the cursor")

    monkeypatch.setattr(store.slices, "update", broken_update)
    with pytest.raises(RuntimeError):
        store.save_page(s.id, [row("a/one")], cursor="c1", count=1, done=True)
    monkeypatch.setattr(store.slices, "update", real)
    assert store.count_repositories() == 0
    assert store.slices_for("q" * 64)[0].cursor is None


def test_bad_urls_are_one_line_errors(tmp_path):
    with pytest.raises(PyccError, match="bad database URL"):
        create_db_engine("not a url")
    with pytest.raises(PyccError, match="unsupported database 'postgresql'"):
        create_db_engine("postgresql://u:secret@localhost/db")
    with pytest.raises(PyccError, match="no driver") as exc:
        create_db_engine("mysql+nosuchdriver://u:hunter2@127.0.0.1/db")
    assert "hunter2" not in str(exc.value)
    with pytest.raises(PyccError, match="bad table prefix"):
        RepositoryStore(create_db_engine(f"sqlite:///{tmp_path / 'x.sqlite'}"), prefix="drop table;")


def test_unreachable_mysql_is_a_one_line_error_without_the_password():
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(PyccError, match="cannot connect to database") as exc:
        create_db_engine(f"mysql+pymysql://root:hunter2@127.0.0.1:{port}/test")
    assert "hunter2" not in str(exc.value) and "***" in str(exc.value)
    assert "\n" not in str(exc.value)


def test_sqlite_in_an_unwritable_place(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PyccError):
        RepositoryStore.open(f"sqlite:///{blocker / 'sub' / 'db.sqlite'}")


def test_redact_url():
    assert redact_url("mysql+pymysql://u:p%40ss@h/db") == "mysql+pymysql://u:***@h/db"
    assert redact_url("sqlite:////tmp/x.sqlite") == "sqlite:////tmp/x.sqlite"


@pytest.mark.mariadb
def test_mariadb_tables_are_innodb_utf8mb4(table_prefix):
    from _mariadb import require_mariadb

    s = RepositoryStore.open(require_mariadb(), prefix=table_prefix)
    try:
        s.upsert_repositories([row("ünï/cödé")])
        assert s.get_repository("ünï/cödé")["owner"] == "ünï"
    finally:
        s.drop_schema()
        s.close()
