"""GET /metrics: the Prometheus text format, in one process and added up over gunicorn's workers."""
from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from _serving import start_server, stop_server


def samples(text: str) -> dict:
    """{(sample name, frozenset of labels): value} from an exposition."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(found: dict, name: str, **labels) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_metrics_count_requests_latency_cache_and_model(client):
    for _ in range(3):
        client.post("/api/complete", json={"text": "import o", "document": "doc-a"})
    client.post("/api/complete", json={"text": "x"})
    client.post("/api/complete", json={"text": 1})
    client.get("/api/health")
    client.get("/no/such/page/12345")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    found = samples(response.get_data(as_text=True))
    assert value(found, "pycc_http_requests_total", endpoint="api.complete", method="POST", status="200") == 4
    assert value(found, "pycc_http_requests_total", endpoint="api.complete", method="POST", status="400") == 1
    assert value(found, "pycc_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert value(found, "pycc_http_request_duration_seconds_count", endpoint="api.complete") == 5
    assert value(found, "pycc_engine_duration_seconds_count") == 4
    assert value(found, "pycc_document_cache_requests_total", result="miss") == 1
    assert value(found, "pycc_document_cache_requests_total", result="hit") == 2
    assert value(found, "pycc_cached_documents") == 1 and value(found, "pycc_cached_bytes") > 0
    assert value(found, "pycc_model_info", model="random-tiny", family="lstm") == 1
    assert not any("12345" in str(key) for key in found)  # paths never become labels


def test_budget_cuts_are_counted(client):
    client.post("/api/complete", json={"text": "def f(x):\n    return x\n" * 200, "deadline_ms": 1})
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "pycc_budget_cuts_total", phase="read") == 1


@pytest.mark.slow
def test_metrics_add_up_over_workers_and_survive_a_killed_one(tmp_path, random_model_dir):
    """Two workers, tokens on: whichever worker answers /metrics, it counts both workers' requests;
    a worker killed with kill -9 keeps its counts, and its replacement's gauges join in."""
    token = "metrics-token-0123456789abcdef"
    (tmp_path / "tokens").write_text(f"# team\n{token}\n")
    process, base = start_server(["--model", random_model_dir, "--workers", 2, "--token-file", tmp_path / "tokens",
                                  "--no-telemetry", "--rate-limit", "off"])
    auth = {"Authorization": f"Bearer {token}"}
    try:
        import psutil

        workers = psutil.Process(process.pid).children()
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            workers = psutil.Process(process.pid).children()
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 401
        for k in range(40):  # fresh connections spread over both workers
            answer = requests.post(f"{base}/api/complete", json={"text": "import o", "document": f"d{k % 5}"},
                                   headers={**auth, "Connection": "close"}, timeout=10)
            assert answer.status_code == 200
        for _ in range(6):
            text = requests.get(f"{base}/metrics", headers={**auth, "Connection": "close"}, timeout=10).text
            found = samples(text)
            assert value(found, "pycc_http_requests_total", endpoint="api.complete", method="POST", status="200") == 40
        assert value(found, "pycc_model_info", model="random-tiny", family="lstm") == 1
        cached_before = value(found, "pycc_cached_documents")
        assert cached_before >= 5  # both workers' caches, added up
        os.kill(workers[0].pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            alive = [p for p in psutil.Process(process.pid).children() if p.pid != workers[0].pid]
            if len(alive) == 2:
                break
            time.sleep(0.1)
        for _ in range(5):
            requests.post(f"{base}/api/complete", json={"text": "x"}, headers={**auth, "Connection": "close"}, timeout=10)
        found = samples(requests.get(f"{base}/metrics", headers=auth, timeout=10).text)
        assert value(found, "pycc_http_requests_total", endpoint="api.complete", method="POST", status="200") == 45
        assert value(found, "pycc_model_info", model="random-tiny", family="lstm") == 1
        assert value(found, "pycc_cached_documents") < cached_before  # the dead worker's gauge is gone
    finally:
        output = stop_server(process)
    assert "Traceback" not in output, output
