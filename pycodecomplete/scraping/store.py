"""The repository database: two tables, written with idempotent upserts.

One URL picks the engine: `sqlite:///PATH` (the default, a file in the data
directory) or `mysql+pymysql://USER:PASS@HOST/DB` for MySQL, MariaDB or Amazon
Aurora MySQL. The schema is created on first use.

`repositories` holds one row per GitHub repository (unique `name_with_owner`):
the search metadata, when the crawl first and last saw it, and the outcome of
cloning it. `scrape_slices` records the progress of each `created:` slice of a
search (its cursor, its status), so an interrupted scrape resumes where it stopped.

Every write that belongs together (a page of repositories and the cursor that
follows it; a split slice and its two halves) happens in one transaction, so a
kill at any moment leaves a state a re-run continues from without duplicates.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from pycodecomplete.errors import PyccError

log = logging.getLogger(__name__)

# Clone statuses.
PENDING, CLONED, FAILED, SKIPPED = "pending", "cloned", "failed", "skipped"
# Slice statuses.
SLICE_PENDING, SLICE_SPLIT, SLICE_DONE, SLICE_CAPPED = "pending", "split", "done", "capped"

# Columns a search refreshes on every sighting (the rest belong to crawling and cloning).
SEARCH_COLUMNS = ("owner", "name", "url", "ssh_url", "disk_usage", "fork_count", "star_count",
                  "watcher_count", "created_at")
_BATCH = 200  # rows per multi-row INSERT


def utcnow() -> dt.datetime:
    """Naive UTC, second resolution: what both SQLite and MySQL DATETIME store the same way."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)


def redact_url(url: str) -> str:
    """A database URL with any password replaced by ***, safe to show and log."""
    return re.sub(r"(://[^:/@\s]*:)[^@/\s]*@", r"\1***@", str(url))


def build_tables(prefix: str = "") -> tuple[sa.MetaData, sa.Table, sa.Table]:
    """The schema. `prefix` namespaces the table names (tests use it to stay apart)."""
    metadata = sa.MetaData()
    repositories = sa.Table(
        f"{prefix}repositories", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name_with_owner", sa.String(255), nullable=False, unique=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("url", sa.String(1024), nullable=False),
        sa.Column("ssh_url", sa.String(1024)),
        sa.Column("disk_usage", sa.BigInteger),  # KiB, as GitHub reports it
        sa.Column("fork_count", sa.Integer),
        sa.Column("star_count", sa.Integer),
        sa.Column("watcher_count", sa.Integer),
        sa.Column("created_at", sa.DateTime),  # on GitHub, UTC
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.Column("clone_status", sa.String(16), nullable=False, default=PENDING, index=True),
        sa.Column("cloned_commit", sa.String(64)),
        sa.Column("cloned_at", sa.DateTime),
        sa.Column("py_files", sa.Integer),  # .py files kept
        sa.Column("py_bytes", sa.BigInteger),  # their total size
        sa.Column("last_error", sa.String(1000)),
    )
    slices = sa.Table(
        f"{prefix}scrape_slices", metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("query_key", sa.String(64), nullable=False),  # sha256 of the scrape's query and range
        sa.Column("query", sa.String(1000), nullable=False),  # the base query, without created:
        sa.Column("range_from", sa.DateTime, nullable=False),  # inclusive, UTC
        sa.Column("range_to", sa.DateTime, nullable=False),  # inclusive, UTC
        sa.Column("depth", sa.Integer, nullable=False, default=0),
        sa.Column("status", sa.String(16), nullable=False, default=SLICE_PENDING),
        sa.Column("cursor", sa.String(255)),  # endCursor of the last page stored
        sa.Column("repository_count", sa.Integer),  # what GitHub said the slice holds
        sa.Column("fetched", sa.Integer, nullable=False, default=0),  # nodes stored so far
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("query_key", "range_from", "range_to", name=f"{prefix}uq_slice_range"),
    )
    return metadata, repositories, slices


@dataclass
class Slice:
    id: int
    range_from: dt.datetime
    range_to: dt.datetime
    depth: int
    status: str
    cursor: str | None
    repository_count: int | None
    fetched: int


def create_db_engine(url: str) -> Engine:
    """An engine for `url`, checked by connecting; every failure is a one-line PyccError."""
    shown = redact_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise PyccError(f"bad database URL {shown!r}: expected sqlite:///PATH or "
                        "mysql+pymysql://USER:PASSWORD@HOST/DATABASE") from None
    backend = parsed.get_backend_name()
    kwargs: dict = {"future": True}
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database).expanduser()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise PyccError(f"cannot create the directory for database {shown}: {exc.strerror}") from None
        kwargs["connect_args"] = {"timeout": 30}
    elif backend in ("mysql", "mariadb"):
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
        kwargs.update(pool_pre_ping=True, pool_recycle=3600)
        if parsed.get_driver_name() == "pymysql":
            kwargs["connect_args"] = {"connect_timeout": 10}
    else:
        raise PyccError(f"unsupported database {backend!r} in {shown!r}: use sqlite:///PATH or "
                        "mysql+pymysql://USER:PASSWORD@HOST/DATABASE")
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise PyccError(f"no driver for {shown!r}: use mysql+pymysql:// (PyMySQL is installed)") from None
    except (ArgumentError, ImportError) as exc:
        raise PyccError(f"bad database URL {shown!r}: {exc}") from None
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise PyccError(f"cannot connect to database {shown}: {_db_reason(exc)}") from None
    return engine


def _db_reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).splitlines()[0]
    return redact_url(text)


class RepositoryStore:
    """The two tables behind one engine. Create it with `RepositoryStore.open(url)`."""

    def __init__(self, engine: Engine, prefix: str = ""):
        if not re.fullmatch(r"[A-Za-z0-9_]{0,24}", prefix or ""):
            raise PyccError(f"bad table prefix {prefix!r}: use up to 24 letters, digits and underscores")
        self.engine = engine
        self.prefix = prefix
        self.metadata, self.repositories, self.slices = build_tables(prefix)
        self.url = redact_url(engine.url.render_as_string(hide_password=True))

    @classmethod
    def open(cls, url: str, prefix: str = "") -> "RepositoryStore":
        store = cls(create_db_engine(url), prefix)
        store.create_schema()
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        try:
            self.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise PyccError(f"cannot create tables in {self.url}: {_db_reason(exc)}") from None

    def drop_schema(self) -> None:
        self.metadata.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------ upserts ----

    def _insert(self, table: sa.Table):
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        elif self.dialect in ("mysql", "mariadb"):
            from sqlalchemy.dialects.mysql import insert
        else:  # create_db_engine admits nothing else
            raise PyccError(f"unsupported database dialect {self.dialect}")
        return insert(table)

    def _upsert(self, conn, table: sa.Table, rows: list[dict], key: list[str], update: list[str]) -> None:
        """INSERT ... ON CONFLICT DO UPDATE (SQLite) / ON DUPLICATE KEY UPDATE (MySQL), as one executemany.

        The statement is the same for every batch, so SQLAlchemy compiles it once and caches it.
        """
        if not rows:
            return
        stmt = self._insert(table)
        if self.dialect == "sqlite":
            if update:
                stmt = stmt.on_conflict_do_update(index_elements=key, set_={c: stmt.excluded[c] for c in update})
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=key)
        else:
            # ON DUPLICATE KEY UPDATE needs at least one assignment; k = k changes nothing.
            stmt = stmt.on_duplicate_key_update(
                {c: stmt.inserted[c] for c in update} if update else {key[0]: table.c[key[0]]})
        columns = list(rows[0])
        for start in range(0, len(rows), _BATCH):
            conn.execute(stmt, [{c: r[c] for c in columns} for r in rows[start:start + _BATCH]])

    def _upsert_repositories(self, conn, rows: list[dict], seen_at: dt.datetime) -> int:
        """Insert new repositories, refresh known ones; returns how many were new."""
        unique = {}
        for row in rows:
            unique[row["name_with_owner"]] = row
        if not unique:
            return 0
        t = self.repositories
        existing = set()
        names = list(unique)
        for start in range(0, len(names), _BATCH):
            existing.update(conn.execute(sa.select(t.c.name_with_owner).where(
                t.c.name_with_owner.in_(names[start:start + _BATCH]))).scalars())
        values = []
        for row in unique.values():
            value = {c: row.get(c) for c in SEARCH_COLUMNS}
            value.update(name_with_owner=row["name_with_owner"], first_seen=seen_at, last_seen=seen_at,
                         clone_status=PENDING)
            values.append(value)
        self._upsert(conn, t, values, ["name_with_owner"], [*SEARCH_COLUMNS, "last_seen"])
        return sum(1 for name in unique if name not in existing)

    def upsert_repositories(self, rows: list[dict], seen_at: dt.datetime | None = None) -> int:
        with self.engine.begin() as conn:
            return self._upsert_repositories(conn, rows, seen_at or utcnow())

    # ------------------------------------------------------------ slices -----

    def add_slices(self, query_key: str, query: str, ranges: list[tuple[dt.datetime, dt.datetime]],
                   depth: int = 0, conn=None) -> None:
        rows = [dict(query_key=query_key, query=query, range_from=a, range_to=b, depth=depth,
                     status=SLICE_PENDING, fetched=0, updated_at=utcnow()) for a, b in ranges]
        if conn is None:
            with self.engine.begin() as conn:
                self._upsert(conn, self.slices, rows, ["query_key", "range_from", "range_to"], [])
        else:
            self._upsert(conn, self.slices, rows, ["query_key", "range_from", "range_to"], [])

    def delete_slices(self, query_key: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.slices.delete().where(self.slices.c.query_key == query_key))

    def slices_for(self, query_key: str, statuses: tuple[str, ...] | None = None) -> list[Slice]:
        t = self.slices
        stmt = sa.select(t.c.id, t.c.range_from, t.c.range_to, t.c.depth, t.c.status, t.c.cursor,
                         t.c.repository_count, t.c.fetched).where(t.c.query_key == query_key)
        if statuses:
            stmt = stmt.where(t.c.status.in_(statuses))
        with self.engine.connect() as conn:
            return [Slice(*row) for row in conn.execute(stmt.order_by(t.c.range_from, t.c.range_to))]

    def save_page(self, slice_id: int, rows: list[dict], *, cursor: str | None, count: int,
                  done: bool, capped: bool = False) -> int:
        """Store one page and the cursor after it, in one transaction; returns new repositories."""
        t = self.slices
        status = SLICE_CAPPED if capped else SLICE_DONE if done else SLICE_PENDING
        with self.engine.begin() as conn:
            new = self._upsert_repositories(conn, rows, utcnow())
            conn.execute(t.update().where(t.c.id == slice_id).values(
                cursor=cursor, repository_count=count, fetched=t.c.fetched + len(rows),
                status=status, updated_at=utcnow()))
        return new

    def split_slice(self, parent: Slice, query_key: str, query: str, rows: list[dict], count: int,
                    halves: list[tuple[dt.datetime, dt.datetime]]) -> int:
        """Store the probe page, add the halves, and mark the parent split, in one transaction."""
        t = self.slices
        with self.engine.begin() as conn:
            new = self._upsert_repositories(conn, rows, utcnow())
            self.add_slices(query_key, query, halves, depth=parent.depth + 1, conn=conn)
            conn.execute(t.update().where(t.c.id == parent.id).values(
                status=SLICE_SPLIT, repository_count=count, updated_at=utcnow()))
        return new

    # ------------------------------------------------------------ cloning ----

    def repositories_to_clone(self, refresh: bool = False, limit: int | None = None) -> list[dict]:
        """Rows not cloned yet (pending, failed, skipped), or every row with `refresh`."""
        t = self.repositories
        stmt = sa.select(t.c.name_with_owner, t.c.owner, t.c.name, t.c.url, t.c.disk_usage,
                         t.c.clone_status, t.c.cloned_commit)
        if not refresh:
            stmt = stmt.where(t.c.clone_status != CLONED)
        stmt = stmt.order_by(t.c.star_count.desc(), t.c.name_with_owner)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(stmt)]

    def record_clone(self, name_with_owner: str, *, status: str, commit: str | None = None,
                     py_files: int | None = None, py_bytes: int | None = None,
                     error: str | None = None) -> None:
        t = self.repositories
        values = dict(clone_status=status, last_error=(error[:1000] if error else None))
        if status == CLONED:
            values.update(cloned_commit=commit, py_files=py_files, py_bytes=py_bytes, cloned_at=utcnow())
        with self.engine.begin() as conn:
            conn.execute(t.update().where(t.c.name_with_owner == name_with_owner).values(**values))

    # ------------------------------------------------------------ reading ----

    def count_repositories(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.repositories)).scalar_one()

    def clone_status_counts(self) -> dict[str, int]:
        t = self.repositories
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.clone_status, sa.func.count()).group_by(t.c.clone_status))
            return {status: n for status, n in rows}

    def get_repository(self, name_with_owner: str) -> dict | None:
        t = self.repositories
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.name_with_owner == name_with_owner)).first()
            return dict(row._mapping) if row else None
