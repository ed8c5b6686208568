"""`GET /metrics`: the Prometheus text format, through `prometheus_client`.

What is counted: requests by endpoint, method and status; request latency (the
whole request, as the app sees it) and engine latency (`Engine.complete` alone),
as histograms; per-document cache hits and misses (a completion with a document
id whose state was cached, or not); documents and bytes in the cache; time
budgets cut; telemetry events; and the model served, as ``pycc_model_info``.

Under gunicorn every worker is a process with its own counters, so `pycc serve`
runs prometheus_client's multiprocess mode: it sets ``PROMETHEUS_MULTIPROC_DIR``
to a fresh directory before anything imports the library (values then live in
memory-mapped files, one set per worker pid), a scrape of any worker adds up all
of them (`MultiProcessCollector`), and the arbiter's ``child_exit`` hook removes a
dead worker's live gauges (`mark_process_dead`), so the cache gauges count live
workers only while a dead worker's counts still add to the totals. Without the
variable (tests, one process) the app's own registry is served. The metrics are
registered in a registry per app, not the library's global one, so an app can be
created twice in one process; in multiprocess mode that registry is never
scraped (the library's docs: metrics registered to a registry that a
MultiProcessCollector reads are exported twice).
"""
from __future__ import annotations

import os
import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)

METRICS_EXTENSION = "pycodecomplete.metrics"
bp = Blueprint("metrics", __name__)
# Seconds; a keystroke's completion is a few ms, a budget-cut one up to the budget.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    def __init__(self, model: str, family: str):
        self.model, self.family = model, family
        self.registry = registry = CollectorRegistry()
        self.requests = Counter("pycc_http_requests", "HTTP requests answered, by endpoint and status",
                                ["endpoint", "method", "status"], registry=registry)
        self.request_seconds = Histogram("pycc_http_request_duration_seconds", "Time to answer a request",
                                         ["endpoint"], buckets=_BUCKETS, registry=registry)
        self.engine_seconds = Histogram("pycc_engine_duration_seconds", "Time in Engine.complete",
                                        buckets=_BUCKETS, registry=registry)
        self.cache_requests = Counter("pycc_document_cache_requests", "Completions with a document id, by "
                                      "whether its state was cached", ["result"], registry=registry)
        self.cached_documents = Gauge("pycc_cached_documents", "Documents whose state is cached",
                                      multiprocess_mode="livesum", registry=registry)
        self.cached_bytes = Gauge("pycc_cached_bytes", "Memory held by cached document states",
                                  multiprocess_mode="livesum", registry=registry)
        self.budget_cuts = Counter("pycc_budget_cuts", "Completions whose time budget cut their work, by phase",
                                   ["phase"], registry=registry)
        self.events = Counter("pycc_telemetry_events", "Acceptance events received, by kind", ["kind"],
                              registry=registry)
        self.model_info = Gauge("pycc_model_info", "The model served (always 1)", ["model", "family"],
                                multiprocess_mode="livemax", registry=registry)
        self.worker_started()

    def worker_started(self) -> None:
        """Set the per-process gauges (again after a fork: each worker has its own files)."""
        self.model_info.labels(model=self.model, family=self.family).set(1)

    def observe_completion(self, seconds: float, document: str | None, was_cached: bool, cache, cut) -> None:
        self.engine_seconds.observe(seconds)
        if document is not None:
            self.cache_requests.labels(result="hit" if was_cached else "miss").inc()
        if cache is not None:
            self.cached_documents.set(len(cache))
            self.cached_bytes.set(cache.nbytes)
        if cut:
            self.budget_cuts.labels(phase=cut).inc()

    def exposition(self) -> bytes:
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)
        return generate_latest(registry)


def metrics_of(app: Flask) -> Metrics:
    return app.extensions[METRICS_EXTENSION]


def init_metrics(app: Flask, engine) -> Metrics:
    metrics = app.extensions[METRICS_EXTENSION] = Metrics(str(engine.name), str(getattr(engine, "family", "")))

    @app.before_request
    def start_clock():
        g.pycc_started = time.perf_counter()

    @app.after_request
    def count(response):
        started = g.pop("pycc_started", None)
        endpoint = request.endpoint or "unmatched"  # never the raw path: 404s would explode the label set
        metrics.requests.labels(endpoint=endpoint, method=request.method, status=str(response.status_code)).inc()
        if started is not None:
            metrics.request_seconds.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)
    return metrics


@bp.get("/metrics")
def metrics():
    return Response(metrics_of(current_app).exposition(), content_type=CONTENT_TYPE_LATEST)


def mark_worker_dead(pid: int) -> None:
    """gunicorn's child_exit: drop a dead worker's live gauges."""
    path = multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)
