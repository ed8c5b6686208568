"""The language server stays responsive: $/cancelRequest, stale requests, a free message loop.

The real server runs over stdio (pytest-lsp) with a stand-in engine
(`lsp_fake_engine.py`) that takes 2 s for text ending in "slow" and logs when each
call starts and ends. "Answered before the engine finished" is checked against
that log, not against a clock, so the tests do not depend on the machine's speed.
"""
from __future__ import annotations

import asyncio
import os
import sys

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig

from lsp_fake_engine import read_log
from lsp_wire import ROOT


@pytest_asyncio.fixture
async def client(tmp_path):
    log = tmp_path / "engine.jsonl"
    config = ClientServerConfig(server_command=[sys.executable, str(ROOT / "tests" / "lsp_fake_engine.py")],
                                server_env={**os.environ, "PYCC_LSP_FAKE_LOG": str(log)})
    lsp_client = await config.start()
    await lsp_client.initialize_session(types.InitializeParams(capabilities=types.ClientCapabilities()))
    lsp_client.engine_log = log
    yield lsp_client
    await lsp_client.shutdown_session()
    await lsp_client.stop()


def uri(name: str) -> str:
    return f"file:///work/{name}.py"


def open_doc(client, name: str, text: str) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri(name), language_id="python", version=1, text=text)))


def type_text(client, name: str, line: int, character: int, text: str, version: int = 2) -> None:
    position = types.Position(line=line, character=character)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri(name), version=version),
        content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=position, end=position),
                                                                text=text)]))


async def ask(client, name: str, line: int, character: int, msg_id: str | None = None) -> asyncio.Task:
    """Send a completion request now; the task resolves to its answer."""
    params = types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri(name)),
                                    position=types.Position(line=line, character=character))
    task = asyncio.ensure_future(client.protocol.send_request_async(types.TEXT_DOCUMENT_COMPLETION, params,
                                                                    msg_id=msg_id))
    await asyncio.sleep(0)  # the task runs up to writing the request
    return task


async def completion(client, name: str, line: int, character: int):
    return await (await ask(client, name, line, character))


def events(client, call: str, name: str) -> list[dict]:
    return [e for e in read_log(client.engine_log) if e["call"] == call and e["document"] == uri(name)]


async def until(condition, timeout: float = 30) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out waiting")


@pytest.mark.asyncio
async def test_cancel_request_answers_request_cancelled_without_waiting_for_the_engine(client):
    open_doc(client, "a", "x = slow")
    pending = await ask(client, "a", 0, 8, msg_id="slow-a")
    await until(lambda: events(client, "complete", "a"))  # the engine is working on it
    client.cancel_request(types.CancelParams(id="slow-a"))
    with pytest.raises(JsonRpcRequestCancelled):
        await pending
    assert not events(client, "done", "a")  # answered while the engine was still busy


@pytest.mark.asyncio
async def test_a_newer_change_answers_the_pending_request_empty_not_late(client):
    open_doc(client, "a", "x = slow")
    pending = await ask(client, "a", 0, 8)
    await until(lambda: events(client, "complete", "a"))
    type_text(client, "a", 0, 8, "e")
    answer = await pending
    assert answer.items == [] or not answer.items
    assert not events(client, "done", "a")
    fresh = await completion(client, "a", 0, 9)  # the request for the new text is answered as usual
    assert [item.label for item in fresh.items] == ["slowealpha", "slowebeta_gamma", "slowedelta"]


@pytest.mark.asyncio
async def test_the_message_loop_is_never_blocked_by_the_engine(client):
    open_doc(client, "a", "x = slow")
    open_doc(client, "b", "y = ")
    slow = await ask(client, "a", 0, 8)
    await until(lambda: events(client, "complete", "a"))
    other = await completion(client, "b", 0, 4)  # another document, while the engine is busy with the first
    assert [item.label for item in other.items] == ["alpha", "beta_gamma", "delta"]
    assert not events(client, "done", "a")
    assert [item.label for item in (await slow).items] == ["slow_LATE"]  # no newer change: answered


@pytest.mark.asyncio
async def test_queued_requests_that_were_cancelled_or_went_stale_never_reach_the_engine(client):
    for name, text in [("a", "a = slow"), ("b", "b = slow"), ("c", "c = 1"), ("d", "d = 1")]:
        open_doc(client, name, text)
    busy = [await ask(client, "a", 0, 8), await ask(client, "b", 0, 8)]  # both worker threads sleep
    await until(lambda: events(client, "complete", "a") and events(client, "complete", "b"))
    queued_c = await ask(client, "c", 0, 5, msg_id="queued-c")
    queued_d = await ask(client, "d", 0, 5)
    client.cancel_request(types.CancelParams(id="queued-c"))
    type_text(client, "d", 0, 5, "2")
    with pytest.raises(JsonRpcRequestCancelled):
        await queued_c
    assert not (await queued_d).items
    await asyncio.gather(*busy)
    await until(lambda: events(client, "done", "a") and events(client, "done", "b"))
    assert await completion(client, "a", 0, 7)  # the pool has run everything queued by now
    assert not events(client, "complete", "c") and not events(client, "complete", "d")


@pytest.mark.asyncio
async def test_close_frees_the_engine_state_and_answers_pending_requests_empty(client):
    open_doc(client, "a", "x = slow")
    pending = await ask(client, "a", 0, 8)
    await until(lambda: events(client, "complete", "a"))
    client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri("a"))))
    assert not (await pending).items
    await until(lambda: events(client, "forget", "a"))


@pytest.mark.asyncio
async def test_an_engine_failure_is_an_empty_answer_and_a_logged_warning(client):
    open_doc(client, "a", "x = boom")
    assert not (await completion(client, "a", 0, 8)).items
    await until(lambda: any("completion failed" in m.message for m in client.log_messages))
    open_doc(client, "b", "y = ")
    assert (await completion(client, "b", 0, 4)).items  # still serving


@pytest.mark.asyncio
async def test_the_text_after_the_cursor_goes_to_the_engine_as_the_suffix(client):
    open_doc(client, "suffix", "print(al)\nx = 1\n")
    assert (await completion(client, "suffix", 0, 8)).items
    call = events(client, "complete", "suffix")[-1]
    assert call["tail"] == "print(al" and call["suffix"] == ")\nx = 1\n" and call["multiline"] is False
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri("suffix")), position=types.Position(line=0, character=8),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked))
    await client.protocol.send_request_async(types.TEXT_DOCUMENT_INLINE_COMPLETION, params)
    assert events(client, "complete", "suffix")[-1]["multiline"] is True  # ghost text may show a block's body
