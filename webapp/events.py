"""`POST /api/events`: acceptance telemetry from the editor and the language server.

Registered only when the app has a telemetry database (``TELEMETRY_DB``; `pycc
serve` uses the project's database unless `--no-telemetry`). Events are checked
(`webapp.schemas.EventsRequest`: kinds, ranks, lengths, latencies, model names,
never code), queued, and written in batches by `pycodecomplete.telemetry.EventRecorder`.
"""
from __future__ import annotations

from flask import Blueprint, Flask, current_app, jsonify

from webapp.api import read_json_object
from webapp.metrics import metrics_of
from webapp.schemas import EventsRequest, validate

TELEMETRY_EXTENSION = "pycodecomplete.telemetry"
bp = Blueprint("telemetry", __name__, url_prefix="/api")


def init_telemetry(app: Flask):
    """The recorder for ``TELEMETRY_DB`` (None: telemetry off, and no /api/events)."""
    url = app.config.get("TELEMETRY_DB")
    if not url:
        return None
    from pycodecomplete.telemetry import EventRecorder

    recorder = EventRecorder(url, prefix=app.config.get("TELEMETRY_TABLE_PREFIX") or "",
                             batch_size=int(app.config["TELEMETRY_BATCH"]),
                             flush_seconds=float(app.config["TELEMETRY_FLUSH_SECONDS"]))
    recorder.check()  # a bad URL fails now, before the server binds its port
    app.extensions[TELEMETRY_EXTENSION] = recorder
    app.register_blueprint(bp)
    return recorder


def recorder_of(app: Flask):
    return app.extensions.get(TELEMETRY_EXTENSION)


@bp.post("/events")
def events():
    body = validate(EventsRequest, read_json_object())
    events = [event.model_dump() for event in body.events]
    recorded = recorder_of(current_app).record(events)
    counter = metrics_of(current_app).events
    for event in events:
        counter.labels(kind=event["kind"]).inc()
    return jsonify({"recorded": recorded}), 202
