"""`pycc lsp` end to end with pytest-lsp: a real server process over stdio, the shipped model.

initialize, open, change (incrementally and in full), complete, inline-complete,
close, shutdown, exit; and the same session over TCP.
"""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_wire import ROOT, SHIPPED_MODEL, lsp_command

URI = "file:///project/cli_tool.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=lsp_command("--model", SHIPPED_MODEL)))
async def client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    lsp_client.initialize_result = result
    yield
    await lsp_client.shutdown_session()


def at(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def open_doc(client: LanguageClient, text: str, uri: str = URI, language: str = "python") -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))


def change(client: LanguageClient, version: int, *changes, uri: str = URI) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=list(changes)))


def insert(line: int, character: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(start=at(line, character), end=at(line, character)),
                                                  text=text)


async def complete(client: LanguageClient, line: int, character: int, uri: str = URI) -> types.CompletionList:
    return await client.text_document_completion_async(types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=at(line, character)))


@pytest.mark.asyncio
async def test_initialize_advertises_completion_inline_completion_and_incremental_sync(client: LanguageClient):
    capabilities = client.initialize_result.capabilities
    assert client.initialize_result.server_info.name == "pycc-lsp"
    assert capabilities.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert capabilities.text_document_sync.open_close
    assert {".", "(", " "} <= set(capabilities.completion_provider.trigger_characters)
    assert capabilities.inline_completion_provider is not None
    await client.wait_for_notification(types.WINDOW_LOG_MESSAGE)
    assert any("pycc-lstm" in m.message for m in client.log_messages)  # says which model serves


@pytest.mark.asyncio
async def test_typing_and_completing_a_python_file(client: LanguageClient):
    open_doc(client, "import argparse\n")
    change(client, 2, insert(1, 0, "parser = argparse.Ar"))
    change(client, 3, insert(1, 20, "g"))  # incremental, one keystroke at a time as editors send them
    answer = await complete(client, 1, 21)
    assert answer.is_incomplete  # the editor asks again as the person types
    labels = [item.label for item in answer.items]
    assert "ArgumentParser" in labels, labels
    item = answer.items[labels.index("ArgumentParser")]
    assert item.text_edit.new_text == "ArgumentParser"
    assert (item.text_edit.range.start, item.text_edit.range.end) == (at(1, 18), at(1, 21))  # replaces "Arg"
    assert [i.sort_text for i in answer.items] == sorted(i.sort_text for i in answer.items)
    probabilities = [float(re.fullmatch(r"pycc (\d+\.\d)%", i.detail).group(1)) for i in answer.items]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < probabilities[0] <= 100

    inline = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), position=at(1, 21),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic)))
    assert [i.insert_text for i in inline.items] == labels
    assert inline.items[0].range == answer.items[0].text_edit.range

    # a whole-document change (clients may send full text even to an incremental server)
    change(client, 4, types.TextDocumentContentChangeWholeDocument(text="import os\nos.pa"))
    answer = await complete(client, 1, 5)
    assert answer.items and all(i.label.startswith("pa") for i in answer.items)

    # a line suggestion where no word is being typed: it goes in as it is, at the cursor
    change(client, 5, types.TextDocumentContentChangeWholeDocument(text="if __name__ == "))
    answer = await complete(client, 0, 15)
    assert answer.items and all(i.text_edit.range.start == at(0, 15) for i in answer.items)
    inline = await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI), position=at(0, 15),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    assert inline.items[0].insert_text == answer.items[0].label

    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=URI)))
    assert not (await complete(client, 0, 15)).items  # closed: unknown again


@pytest.mark.asyncio
async def test_only_python_documents_get_suggestions(client: LanguageClient):
    open_doc(client, "import os\nos.pa", uri="file:///notes.md", language="markdown")
    assert not (await complete(client, 1, 5, uri="file:///notes.md")).items
    open_doc(client, "import os\nos.pa", uri="file:///tool.py", language="python")
    assert (await complete(client, 1, 5, uri="file:///tool.py")).items


def test_shutdown_then_exit_ends_with_code_0_over_tcp():
    """The same server over TCP: the bound port is logged, one editor session, LSP exit codes."""
    process = subprocess.Popen(lsp_command("--model", SHIPPED_MODEL, "--tcp", "127.0.0.1:0"), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in process.stderr:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                break
        else:
            pytest.fail("the TCP server never said where it listens")
        with socket.create_connection(("127.0.0.1", int(match.group(1))), timeout=30) as conn:
            stream = conn.makefile("rwb")

            def send(message: dict) -> None:
                body = json.dumps({"jsonrpc": "2.0", **message}).encode()
                stream.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                stream.flush()

            def answer(msg_id) -> dict:
                while True:
                    headers = dict(line.split(b": ", 1) for line in iter(stream.readline, b"\r\n"))
                    message = json.loads(stream.read(int(headers[b"Content-Length"])))
                    if message.get("id") == msg_id:
                        return message

            send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None,
                                                              "capabilities": {}}})
            assert answer(1)["result"]["capabilities"]["completionProvider"]
            send({"method": "initialized", "params": {}})
            send({"method": "textDocument/didOpen", "params": {"textDocument": {
                "uri": URI, "languageId": "python", "version": 1, "text": "import argparse\nargparse.Arg"}}})
            send({"id": 2, "method": "textDocument/completion", "params": {
                "textDocument": {"uri": URI}, "position": {"line": 1, "character": 12}}})
            assert "ArgumentParser" in [i["label"] for i in answer(2)["result"]["items"]]
            send({"id": 3, "method": "shutdown"})
            assert answer(3)["result"] is None
            send({"method": "exit"})
        assert process.wait(30) == 0
        assert process.stdout.read() == ""  # nothing on stdout in TCP mode either
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def test_pycc_lsp_help_explains_itself():
    result = subprocess.run([sys.executable, "-m", "pycodecomplete", "lsp", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for flag in ("--tcp", "--model", "--server", "--timeout", "--token-file", "--n", "--runtime"):
        assert flag in result.stdout
    assert "Language Server Protocol" in result.stdout
    as_module = subprocess.run([sys.executable, "-m", "pycodecomplete.lsp", "--help"], cwd=ROOT,
                               capture_output=True, text=True, timeout=60)
    assert as_module.returncode == 0 and as_module.stdout == result.stdout  # the same command


def test_the_language_server_never_loads_tensorflow():
    from lsp_wire import WireClient

    wire = WireClient(lsp_command("--model", SHIPPED_MODEL))
    try:
        wire.initialize()
        wire.open(URI, "import os\nos.pa")
        assert wire.complete(URI, 1, 5)["result"]["items"]
        maps = open(f"/proc/{wire.process.pid}/maps").read()
        assert "tensorflow" not in maps and "keras" not in maps
        assert wire.end() == 0
    finally:
        wire.kill()


def test_a_gpt2_model_serves_through_the_same_server():
    from lsp_wire import WireClient

    wire = WireClient(lsp_command("--model", ROOT / "trained-models" / "gpt2-cpu"))
    try:
        wire.initialize()
        wire.open(URI, "import argparse\nparser = argparse.Arg")
        labels = [item["label"] for item in wire.complete(URI, 1, 21, timeout=120)["result"]["items"]]
        assert labels and all(label.startswith("Arg") for label in labels), labels
        assert wire.end() == 0 and wire.violations == []
    finally:
        wire.kill()
