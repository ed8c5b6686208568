"""Acceptance telemetry: what happened to the suggestions people were shown, in the project's database.

Local only: events go to the SQL database `pycc serve` is given (`--db`, the same
URL convention as the crawl: an SQLite file in the data directory by default,
``mysql+pymysql://...`` for MySQL, MariaDB or Aurora; the engine comes from
`scraping.store.create_db_engine`, so both read one URL the same way). Nothing is
sent anywhere else.

**What is stored** (table ``completion_events``), one row per event: when the
server received it (UTC, and its day), the model's name, the kind (``shown``,
``accepted``, ``dismissed``), what sent it (``editor``, ``lsp``, ``api``), the
place of an accepted suggestion in the list (``position``, 0 for the first), a
length in characters (``chars``: the accepted suggestion's; for ``shown`` and
``dismissed``, the first suggestion's), and the latency the client saw. Never the
code, the suggestion's text, a document id, a token or an address.

**Batches.** `EventRecorder` queues events in memory and one thread per process
writes them, every `flush_seconds` or as soon as `batch_size` are waiting, in one
multi-row INSERT per batch (one transaction). Why: a keystroke must not wait for
a database, and one INSERT per event would cost SQLite a disk sync each. At most
`max_pending` events wait; beyond that (a database down for long) the oldest are
dropped and counted. What is queued when a process is killed with ``kill -9`` is
lost (at most `flush_seconds` of events); a normal stop writes it.

**Stats** (`pycc stats`): per day and model, events of each kind, the acceptance
rate (accepted / shown), the mean accepted length, and the characters saved:
for each accepted suggestion, its length less the keystrokes spent accepting it
(1, plus 1 per place below the top), never below 0, as in `ml/keystrokes.py`.
"""
from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import threading
from collections import deque

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from pycodecomplete.errors import PyccError
from pycodecomplete.scraping.store import create_db_engine, redact_url

log = logging.getLogger(__name__)
KINDS = ("shown", "accepted", "dismissed")
SOURCES = ("editor", "lsp", "api")


def build_table(prefix: str = "") -> tuple[sa.MetaData, sa.Table]:
    metadata = sa.MetaData()
    events = sa.Table(
        f"{prefix}completion_events", metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime, nullable=False),  # UTC, when the server received it
        sa.Column("day", sa.String(10), nullable=False),  # YYYY-MM-DD of created_at: groups the same on both backends
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("position", sa.SmallInteger),  # of the accepted suggestion; NULL for other kinds
        sa.Column("chars", sa.Integer, nullable=False),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Index(f"{prefix}ix_completion_events_day_model", "day", "model"),
    )
    return metadata, events


def _reason(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return redact_url(str(orig if orig is not None else exc).splitlines()[0])


def event_row(event: dict, now: dt.datetime | None = None) -> dict:
    """A table row from a validated event (`webapp.schemas.Event` as a dict)."""
    now = now or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    return {"created_at": now, "day": now.date().isoformat(), "model": event["model"][:200],
            "kind": event["kind"], "source": event.get("source") or "api",
            "position": event.get("rank") if event["kind"] == "accepted" else None,
            "chars": int(event["length"]), "latency_ms": float(event["latency_ms"])}


class EventStore:
    """The events table behind one engine. Create it with `EventStore.open(url)`."""

    def __init__(self, engine, prefix: str = ""):
        self.engine = engine
        self.metadata, self.table = build_table(prefix)
        self.url = redact_url(engine.url.render_as_string(hide_password=True))

    @classmethod
    def open(cls, url: str, prefix: str = "") -> "EventStore":
        store = cls(create_db_engine(url), prefix)
        for attempt in (1, 2):  # two servers starting at once can both find the table missing
            try:
                store.metadata.create_all(store.engine)
                return store
            except SQLAlchemyError as exc:
                if attempt == 2 or "already exists" not in str(exc):
                    store.close()
                    raise PyccError(f"cannot create the telemetry table in {store.url}: {_reason(exc)}") from None
        return store

    def write(self, rows: list[dict]) -> None:
        """Insert `rows` in one transaction (one multi-row statement)."""
        if rows:
            with self.engine.begin() as conn:
                conn.execute(sa.insert(self.table), rows)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def stats(self, days: int | None = None, model: str | None = None) -> list[dict]:
        """One row per (day, model), newest day first; see the module's docstring for the figures."""
        t = self.table
        kind = t.c.kind

        def count(name):
            return sa.func.sum(sa.case((kind == name, 1), else_=0))

        accepted = kind == "accepted"
        saved = sa.case((accepted & (t.c.chars > t.c.position + 1), t.c.chars - t.c.position - 1), else_=0)
        query = (sa.select(t.c.day, t.c.model, count("shown").label("shown"), count("accepted").label("accepted"),
                           count("dismissed").label("dismissed"),
                           sa.func.sum(sa.case((accepted, t.c.chars), else_=0)).label("accepted_chars"),
                           sa.func.sum(saved).label("chars_saved"))
                 .group_by(t.c.day, t.c.model).order_by(t.c.day.desc(), t.c.model))
        if days is not None:
            since = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=days - 1)).isoformat()
            query = query.where(t.c.day >= since)
        if model is not None:
            query = query.where(t.c.model == model)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [summarize(dict(row)) for row in rows]

    def drop_schema(self) -> None:
        self.metadata.drop_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()


def summarize(row: dict) -> dict:
    """Counts of one group -> the figures `pycc stats` shows."""
    shown, accepted = int(row["shown"] or 0), int(row["accepted"] or 0)
    accepted_chars = int(row["accepted_chars"] or 0)
    return {**{k: row[k] for k in ("day", "model") if k in row}, "shown": shown, "accepted": accepted,
            "dismissed": int(row["dismissed"] or 0), "accepted_chars": accepted_chars,
            "acceptance_rate": accepted / shown if shown else None,
            "mean_accepted_length": accepted_chars / accepted if accepted else None,
            "chars_saved": int(row["chars_saved"] or 0)}


def totals(rows: list[dict]) -> list[dict]:
    """Per model over all the days of `rows`."""
    by_model: dict[str, dict] = {}
    for row in rows:
        acc = by_model.setdefault(row["model"], {"model": row["model"], "shown": 0, "accepted": 0,
                                                  "dismissed": 0, "accepted_chars": 0, "chars_saved": 0})
        for key in ("shown", "accepted", "dismissed", "accepted_chars", "chars_saved"):
            acc[key] += row[key]
    return [summarize(acc) for _, acc in sorted(by_model.items())]


class EventRecorder:
    """Queues events and writes them in batches from one thread per process (see the module docstring).

    The database is opened by the first flush in each process, so a server that
    forks its workers after creating the recorder never shares a connection.
    """

    def __init__(self, url: str, prefix: str = "", batch_size: int = 200, flush_seconds: float = 2.0,
                 max_pending: int = 10_000):
        self.url, self.prefix = url, prefix
        self.batch_size, self.flush_seconds, self.max_pending = batch_size, flush_seconds, max_pending
        self.dropped = 0
        self._pending: deque = deque()
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._store: EventStore | None = None
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._closed = False

    def check(self) -> None:
        """Open the database and create the table now (a bad URL fails at start-up, not on an event)."""
        EventStore.open(self.url, self.prefix).close()

    def record(self, events: list[dict]) -> int:
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
        rows = [event_row(e, now) for e in events]
        with self._lock:
            self._pending.extend(rows)
            while len(self._pending) > self.max_pending:
                self._pending.popleft()
                self.dropped += 1
            waiting = len(self._pending)
        self._ensure_thread()
        if waiting >= self.batch_size:
            self._wake.set()
        return len(rows)

    def flush(self) -> int:
        """Write what is queued now, in batches; returns how many rows were written."""
        written = 0
        with self._write_lock:
            while True:
                with self._lock:
                    batch = [self._pending.popleft() for _ in range(min(self.batch_size, len(self._pending)))]
                if not batch:
                    return written
                try:
                    if self._store is None:
                        self._store = EventStore.open(self.url, self.prefix)
                    self._store.write(batch)
                    written += len(batch)
                except (SQLAlchemyError, PyccError) as exc:
                    reason = _reason(exc) if isinstance(exc, SQLAlchemyError) else str(exc)
                    log.warning("telemetry: %d event(s) not written yet: %s", len(batch), reason)
                    with self._lock:  # keep them for the next flush, oldest first
                        self._pending.extendleft(reversed(batch))
                    return written

    def close(self) -> None:
        """Write what is queued and stop (at exit, or when a worker stops)."""
        self._closed = True
        self._wake.set()
        self.flush()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _ensure_thread(self) -> None:
        pid = os.getpid()
        if self._pid == pid and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == pid and self._thread is not None and self._thread.is_alive():
                return
            if self._pid != pid:  # a forked child: the parent's connections and thread are not ours
                self._store, self._write_lock = None, threading.Lock()
                atexit.register(self.close)
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name="pycc-telemetry", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()
