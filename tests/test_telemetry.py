"""Acceptance telemetry: POST /api/events, batched writes, `pycc stats`, on SQLite and the real MariaDB."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from _serving import ROOT
from pycodecomplete.telemetry import EventRecorder, EventStore, totals
from webapp import create_app

EVENTS = [  # one session: 4 shown, 2 accepted (ranks 0 and 2), 1 dismissed
    {"kind": "shown", "model": "m1", "length": 12, "latency_ms": 8.5, "source": "editor"},
    {"kind": "accepted", "model": "m1", "rank": 0, "length": 12, "latency_ms": 8.5, "source": "editor"},
    {"kind": "shown", "model": "m1", "length": 5, "latency_ms": 6.0, "source": "editor"},
    {"kind": "dismissed", "model": "m1", "length": 5, "latency_ms": 6.0, "source": "editor"},
    {"kind": "shown", "model": "m1", "length": 9, "latency_ms": 7.0, "source": "lsp"},
    {"kind": "accepted", "model": "m1", "rank": 2, "length": 2, "latency_ms": 7.0, "source": "lsp"},
    {"kind": "shown", "model": "m2", "length": 30, "latency_ms": 11.0},
]


@pytest.fixture
def recorder(db_url, table_prefix):
    recorder = EventRecorder(db_url, prefix=table_prefix, batch_size=3, flush_seconds=60)
    recorder.check()
    yield recorder
    recorder.close()
    store = EventStore.open(db_url, table_prefix)
    store.drop_schema()
    store.close()


@pytest.fixture
def inserts(table_prefix):
    """Rows per INSERT statement into this test's events table, on any engine."""
    counted = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT") and f"{table_prefix}completion_events" in statement:
            counted.append(len(parameters) if executemany else 1)

    sa.event.listen(sa.engine.Engine, "before_cursor_execute", count)
    yield counted
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", count)


def test_events_are_written_in_batches_and_summed(recorder, db_url, table_prefix, inserts):
    assert recorder.record(EVENTS[:2]) == 2
    time.sleep(0.5)
    assert inserts == []  # fewer than a batch: they wait for the timer (60 s here)
    assert recorder.record(EVENTS[2:]) == 5
    deadline = time.monotonic() + 10  # 7 >= batch_size wakes the writer thread
    while sum(inserts) < 7 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert inserts == [3, 3, 1]  # everything waiting, one statement per batch of 3
    recorder.close()
    store = EventStore.open(db_url, table_prefix)
    try:
        assert store.count() == 7
        rows = store.stats()
        with store.engine.connect() as conn:
            columns = set(conn.execute(sa.select(store.table)).mappings().first())
    finally:
        store.close()
    assert columns == {"id", "created_at", "day", "model", "kind", "source", "position", "chars", "latency_ms"}
    by_model = {row["model"]: row for row in rows}
    m1 = by_model["m1"]
    assert (m1["shown"], m1["accepted"], m1["dismissed"]) == (3, 2, 1)
    assert m1["acceptance_rate"] == pytest.approx(2 / 3)
    assert m1["mean_accepted_length"] == pytest.approx(7.0)
    assert m1["chars_saved"] == (12 - 1) + 0  # rank 2 of a 2-character suggestion saves nothing
    assert by_model["m2"]["acceptance_rate"] == 0 and by_model["m2"]["mean_accepted_length"] is None
    assert totals(rows)[0]["model"] == "m1"


def test_a_database_that_is_down_keeps_events_for_later(tmp_path):
    recorder = EventRecorder("sqlite:////proc/no/such/place.sqlite", flush_seconds=60)  # cannot be created
    recorder.record(EVENTS[:2])
    assert recorder.flush() == 0 and len(recorder._pending) == 2
    recorder.url = f"sqlite:///{tmp_path / 't.sqlite'}"
    assert recorder.flush() == 2


def app_with_events(random_model_dir, db_url, prefix, **extra):
    return create_app({"MODEL_DIR": str(random_model_dir), "TELEMETRY_DB": db_url, "TELEMETRY_TABLE_PREFIX": prefix,
                       "TELEMETRY_FLUSH_SECONDS": 0.05, "RATE_LIMIT": "off", **extra})


def test_post_events_records_what_the_editor_sends(random_model_dir, db_url, table_prefix):
    from webapp.events import recorder_of

    app = app_with_events(random_model_dir, db_url, table_prefix)
    client = app.test_client()
    answer = client.post("/api/events", json={"events": EVENTS})
    assert answer.status_code == 202 and answer.get_json() == {"recorded": 7}
    recorder_of(app).close()
    store = EventStore.open(db_url, table_prefix)
    try:
        assert store.count() == 7
    finally:
        store.drop_schema()
        store.close()
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'pycc_telemetry_events_total{kind="accepted"} 2.0' in metrics


@pytest.mark.parametrize("body, fragment", [
    ({"events": [{**EVENTS[0], "text": "secret code"}]}, "'events.0.text' is not a known field"),
    ({"events": [{**EVENTS[0], "kind": "typed"}]}, "events.0.kind"),
    ({"events": [{**EVENTS[1], "rank": 10}]}, "events.0.rank"),
    ({"events": [{**EVENTS[0], "length": 201}]}, "events.0.length"),
    ({"events": [{**EVENTS[0], "latency_ms": -1}]}, "events.0.latency_ms"),
    ({"events": []}, "events"),
    ({"events": [EVENTS[0]] * 101}, "events"),
    ({"event": EVENTS}, "unknown field(s): event"),
])
def test_bad_events_are_refused(tmp_path, random_model_dir, body, fragment):
    client = app_with_events(random_model_dir, f"sqlite:///{tmp_path / 't.sqlite'}", "").test_client()
    answer = client.post("/api/events", json=body)
    assert answer.status_code == 400 and fragment in answer.get_json()["error"]


def test_no_telemetry_means_no_events_route(client):
    assert client.post("/api/events", json={"events": EVENTS}).status_code == 404
    assert "/api/events" not in client.get("/api/openapi.json").get_json()["paths"]


def test_events_need_the_token_when_the_server_has_tokens(tmp_path, random_model_dir):
    token = "a-token-for-events-000000"
    client = app_with_events(random_model_dir, f"sqlite:///{tmp_path / 't.sqlite'}", "", API_TOKENS=[token]).test_client()
    assert client.post("/api/events", json={"events": EVENTS}).status_code == 401
    ok = client.post("/api/events", json={"events": EVENTS}, headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 202


def pycc(*args):
    return subprocess.run([sys.executable, "-m", "pycodecomplete", *map(str, args)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_pycc_stats_prints_rates_per_day_and_model(tmp_path):
    url = f"sqlite:///{tmp_path / 'stats.sqlite'}"
    recorder = EventRecorder(url)
    recorder.record(EVENTS)
    recorder.close()
    result = pycc("stats", "--db", url, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (m1,) = [row for row in report["models"] if row["model"] == "m1"]
    assert m1["accepted"] == 2 and m1["chars_saved"] == 11 and len(report["days"]) == 2
    table = pycc("stats", "--db", url, "--days", 7)
    assert table.returncode == 0 and "accept %" in table.stdout and "66.7" in table.stdout
    assert "all days" in table.stdout
    assert pycc("stats", "--db", url, "--days", 0).returncode == 2


def test_pycc_stats_on_a_bad_database_is_one_line():
    result = pycc("stats", "--db", "postgresql://nobody@127.0.0.1:1/x")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "unsupported database" in result.stderr


def test_serve_flags_map_to_the_telemetry_config(tmp_path):
    from pycodecomplete.cli import build_parser
    from pycodecomplete.cli.exposure import exposure_config

    parse = build_parser().parse_args
    assert exposure_config(parse(["serve", "--no-telemetry"]))["TELEMETRY_DB"] is None
    assert exposure_config(parse(["serve"]))["TELEMETRY_DB"].startswith("sqlite:///")
    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    assert exposure_config(parse(["serve", "--db", url]))["TELEMETRY_DB"] == url
