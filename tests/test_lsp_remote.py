"""Remote mode: `pycc lsp --server URL` as a thin client of a running `pycc serve`.

Against a live `pycc serve` (gunicorn) the items are the API's own suggestions for
the same text; against a fake API on 127.0.0.1 the bearer token is sent (and never
logged), and failures, slow answers and an unreachable server are empty answers.
"""
from __future__ import annotations

import socket
import time

import pytest
import requests

from lsp_http_servers import FakeApi, start_pycc_serve, stop
from lsp_wire import SHIPPED_MODEL, WireClient, lsp_command

URI = "file:///team/project/app.py"
TEXT = "import argparse\nparser = argparse.Arg"


def labels(answer: dict) -> list[str]:
    return [item["label"] for item in answer["result"]["items"]]


def session(*args) -> WireClient:
    wire = WireClient(lsp_command(*args))
    wire.initialize()
    wire.open(URI, TEXT)
    return wire


def finish(wire: WireClient) -> str:
    """End the session cleanly; the server's stderr."""
    try:
        assert wire.end() == 0
    finally:
        wire.kill()
    assert wire.violations == [] and "Traceback" not in wire.stderr()
    return wire.stderr()


@pytest.mark.slow
def test_completions_come_from_a_live_pycc_serve():
    server, base = start_pycc_serve(SHIPPED_MODEL)
    try:
        wire = session("--server", base, "--timeout", "60")  # a loaded CI machine must not make this flaky
        answer = wire.complete(URI, 1, 21)
        direct = requests.post(f"{base}/api/complete", json={"text": TEXT, "n": 5}, timeout=30).json()
        assert labels(answer) == ["Arg" + s["text"] for s in direct["suggestions"]]
        assert "ArgumentParser" in labels(answer)
        wire.notify("textDocument/didChange", {"textDocument": {"uri": URI, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 1, "character": 21}, "end": {"line": 1, "character": 21}}, "text": "u"}]})
        assert all(label.startswith("Argu") for label in labels(wire.complete(URI, 1, 22)))
        assert any("pycc-lstm" in n["params"]["message"] for n in wire.notifications
                   if n["method"] == "window/logMessage")  # names the server's model
        finish(wire)
    finally:
        stop(server)


def test_the_token_is_sent_as_a_bearer_header_and_never_logged(tmp_path):
    api = FakeApi()
    token = "s3cret-T0KEN-value"
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    try:
        wire = session("--server", api.url, "--token-file", token_file, "--timeout", "60")
        assert labels(wire.complete(URI, 1, 21)) == ["ArgumentParser", "Argument"]
        (request,) = api.completions()
        assert request["headers"]["Authorization"] == f"Bearer {token}"
        body = request["body"]
        assert body["text"] == TEXT and body["n"] == 5
        assert body["document"].startswith("lsp-") and len(body["document"]) <= 200 and "team" not in body["document"]
        stderr = finish(wire)
        assert token not in stderr and all(token not in str(n) for n in wire.notifications)
    finally:
        api.close()


def test_server_errors_are_empty_answers_logged_once():
    api = FakeApi(mode="error")
    try:
        wire = session("--server", api.url, "--timeout", "60")
        for _ in range(3):
            assert labels(wire.complete(URI, 1, 21)) == []
        assert len(api.completions()) == 3
        stderr = finish(wire)
        assert stderr.count("the model fell over") == 1  # not once per keystroke
    finally:
        api.close()


def test_a_slow_server_is_cut_off_at_the_timeout():
    api = FakeApi(mode="slow")
    try:
        wire = session("--server", api.url, "--timeout", "0.3")
        started = time.monotonic()
        assert labels(wire.complete(URI, 1, 21)) == []
        assert time.monotonic() - started < 8  # the fake answers after 10 s
        finish(wire)
    finally:
        api.close()


def test_an_unreachable_server_is_no_crash():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wire = session("--server", f"http://127.0.0.1:{port}", "--timeout", "1")
    assert labels(wire.complete(URI, 1, 21)) == []
    stderr = finish(wire)
    assert "no completions from" in stderr
