"""Bad input never crashes `pycc lsp` or reaches stdout as anything but a protocol answer.

A raw client (`lsp_wire.WireClient`) sends broken bytes and checks that every byte
the server writes to stdout is a well-formed JSON-RPC frame; stderr must hold no
traceback. The shipped model serves, so "still answers" means real suggestions.
"""
from __future__ import annotations

import pytest

from lsp_wire import SHIPPED_MODEL, WireClient, lsp_command

URI = "file:///bad/input.py"
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, NOT_INITIALIZED = (
    -32700, -32600, -32601, -32602, -32002)


@pytest.fixture
def wire():
    client = WireClient(lsp_command("--model", SHIPPED_MODEL))
    yield client
    client.kill()
    assert client.violations == [], client.violations
    assert "Traceback" not in client.stderr(), client.stderr()


def labels(answer: dict) -> list[str]:
    return [item["label"] for item in answer["result"]["items"]]


def still_serving(wire: WireClient, uri: str = "file:///bad/alive.py") -> None:
    wire.open(uri, "import argparse\nargparse.Arg")
    assert "ArgumentParser" in labels(wire.complete(uri, 1, 12))


def test_requests_before_initialize_get_server_not_initialized(wire):
    early = wire.complete(URI, 0, 0)
    assert early["error"]["code"] == NOT_INITIALIZED
    wire.open(URI, "import argparse\nargparse.Arg")  # a notification before initialize is dropped
    wire.initialize()
    assert labels(wire.complete(URI, 1, 12)) == []  # ... so the document was never opened
    assert wire.request("initialize", {"capabilities": {}})["error"]["code"] == INVALID_REQUEST  # only once
    still_serving(wire)
    assert wire.end() == 0


def test_malformed_json_rpc_gets_the_protocols_errors(wire):
    wire.initialize()
    wire.frame(b'{"jsonrpc": "2.0", "id": 7, "method": ')  # cut short
    assert wire.answer(None)["error"]["code"] == PARSE_ERROR
    wire.frame(b"\xff\xfe not utf-8")
    assert wire.answer(None)["error"]["code"] == PARSE_ERROR
    wire.frame(b"[" * 100_000)  # nested too deep for the parser
    assert wire.answer(None)["error"]["code"] == PARSE_ERROR
    wire.frame(b'[{"jsonrpc": "2.0", "id": 8, "method": "shutdown"}]')  # a batch: not LSP
    assert wire.answer(None)["error"]["code"] == INVALID_REQUEST
    wire.frame(b'{"id": 9, "method": "shutdown"}')  # no "jsonrpc"
    assert wire.answer(9)["error"]["code"] == INVALID_REQUEST
    wire.frame(b"42")
    assert wire.answer(None)["error"]["code"] == INVALID_REQUEST
    wire.write(b"Content-Length: nonsense\r\n\r\n{}\r\n")  # a broken header: skipped, nothing to answer
    missing_position = wire.request("textDocument/completion", {"textDocument": {"uri": URI}})
    assert missing_position["error"]["code"] == INVALID_PARAMS and "position" in missing_position["error"]["message"]
    wrong_type = wire.request("textDocument/completion", {"textDocument": {"uri": URI},
                                                          "position": {"line": "one", "character": 0}})
    assert wrong_type["error"]["code"] == INVALID_PARAMS
    assert wire.request("no/suchMethod", {})["error"]["code"] == METHOD_NOT_FOUND
    wire.frame(b'{"jsonrpc": "2.0", "id": 10, "method": ["not", "a", "name"]}')
    assert wire.answer(10)["error"]["code"] == INVALID_REQUEST
    wire.notify("no/suchNotification", {})
    wire.notify("textDocument/didChange", {"textDocument": {"uri": "file:///never/opened.py", "version": 2},
                                           "contentChanges": [{"text": "x"}]})
    still_serving(wire)
    assert wire.end() == 0


def test_unknown_documents_positions_outside_and_other_languages_are_answered_empty(wire):
    wire.initialize()
    assert labels(wire.complete("file:///never/opened.py", 0, 0)) == []
    wire.open(URI, "import argparse\nargparse.Arg")
    assert labels(wire.complete(URI, 5, 0)) == []  # past the last line
    at_end = labels(wire.complete(URI, 1, 12))
    assert "ArgumentParser" in at_end
    assert labels(wire.complete(URI, 1, 500)) == at_end  # past the line's end: its end, as LSP says
    wire.open("file:///bad/notes.txt", "import argparse\nargparse.Arg", language="plaintext")
    assert labels(wire.complete("file:///bad/notes.txt", 1, 12)) == []
    assert wire.end() == 0


def test_huge_documents_are_answered_empty_and_do_not_stall_the_server(wire):
    wire.initialize()
    huge = "x = 1\n" * 200_000 + "import argparse\nargparse.Arg"  # 1.2M characters, over the 1M limit
    wire.open("file:///bad/huge.py", huge)
    assert labels(wire.complete("file:///bad/huge.py", 200_001, 12, timeout=60)) == []
    big = "x = 1\n" * 30_000 + "import argparse\nargparse.Arg"  # 180,000 characters: clipped, still served
    wire.open("file:///bad/big.py", big)
    served = labels(wire.complete("file:///bad/big.py", 30_001, 12, timeout=60))
    assert served and all(label.startswith("Arg") for label in served)
    still_serving(wire)
    assert wire.end() == 0


def test_requests_after_shutdown_are_invalid_and_exit_without_shutdown_is_code_1():
    wire = WireClient(lsp_command("--model", SHIPPED_MODEL))
    try:
        wire.initialize()
        assert wire.request("shutdown")["result"] is None
        assert wire.complete(URI, 0, 0)["error"]["code"] == INVALID_REQUEST
        wire.notify("exit")
        assert wire.process.wait(30) == 0
    finally:
        wire.kill()
    wire = WireClient(lsp_command("--model", SHIPPED_MODEL))
    try:
        wire.initialize()
        wire.notify("exit")
        assert wire.process.wait(30) == 1
        assert wire.violations == []
    finally:
        wire.kill()


def test_the_editor_closing_the_pipe_ends_the_server():
    wire = WireClient(lsp_command("--model", SHIPPED_MODEL))
    try:
        wire.initialize()
        wire.process.stdin.close()
        assert wire.process.wait(30) == 1  # no shutdown was asked for
    finally:
        wire.kill()


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n must be from 1 to 10"),
    (["--tcp", "nowhere"], "--tcp"),
    (["--model", "/no/such/model"], "does not exist"),
    (["--timeout", "1"], "--timeout applies to --server"),
    (["--server", "http://127.0.0.1:9", "--context", "window"], "--context"),
    (["--server", "127.0.0.1:5000"], "--server must be an http"),
    (["--server", "http://127.0.0.1:9", "--timeout", "0"], "--timeout must be more than 0"),
    (["--server", "http://127.0.0.1:9", "--token-file", "/no/such/token"], "cannot read --token-file"),
])
def test_bad_flags_are_one_line_and_exit_2(args, message):
    import subprocess

    from lsp_wire import ROOT

    result = subprocess.run(lsp_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_broken_framing_is_survived_or_ends_the_session_quietly():
    wire = WireClient(lsp_command("--model", SHIPPED_MODEL))
    try:
        wire.initialize()
        wire.write(b"x" * (2 * 2**20) + b"\r\n")  # a 2 MiB "header line"
        still_serving(wire)
        wire.write(b"Content-Length: 100\r\n\r\n{\"jsonrpc\": ")  # the input ends inside a message
        wire.process.stdin.close()
        assert wire.process.wait(30) == 1  # ended like a closed pipe: no shutdown was asked for
        assert wire.violations == [] and "Traceback" not in wire.stderr()
    finally:
        wire.kill()


def test_whatever_the_process_prints_goes_to_stderr_not_into_the_protocol():
    import sys

    from lsp_wire import ROOT

    wire = WireClient([sys.executable, str(ROOT / "tests" / "lsp_fake_engine.py")])
    try:
        wire.initialize()
        wire.open(URI, "x = noisy")
        assert labels(wire.complete(URI, 0, 9)) == ["noisyalpha", "noisybeta_gamma", "noisydelta"]
        assert wire.end() == 0
        assert wire.violations == []
        assert "noise from print()" in wire.stderr() and "noise from a C library" in wire.stderr()
    finally:
        wire.kill()
