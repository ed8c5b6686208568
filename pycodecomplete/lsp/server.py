"""The language server: document sync, completion and inline completion over a backend.

`build_server(backend, options)` returns a pygls `LanguageServer` whose features
are the small handlers below. Documents live in pygls' workspace (full and
incremental ``didChange`` both work: pygls applies either); the server keeps only a
change counter per document (`freshness.ChangeClock`).

A completion request, on the event loop:

1. reads the document and cursor (`documents.locate`); an unknown document, a
   language other than Python, a position outside the document or a document over
   the size limit is answered empty at once;
2. hands ``backend.complete(text before the cursor, n, uri)`` to a thread pool, so
   the loop keeps reading messages while the engine works;
3. waits for the first of: the engine's answer, or a newer change (or close) of the
   document, which answers it empty at once rather than late. A ``$/cancelRequest``
   cancels the waiting task; pygls then answers ``RequestCancelled`` (-32800). A
   queued job whose request went stale or was cancelled never starts.

Engine errors are logged and answered empty: an editor must never see a failure
for a completion.

The custom request ``pycc/timings`` answers (and clears) ``[[request id, ms], ...]``:
the time ``backend.complete`` took for each of the last completions (at most
`TIMINGS_KEPT`), so `benchmarks/lsp_latency.py` can subtract the engine's own time
from each round trip measured in the same process.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from pycodecomplete import __version__
from pycodecomplete.lsp import documents, items
from pycodecomplete.lsp.freshness import ChangeClock
from pycodecomplete.lsp.logs import ClientLogHandler
from pycodecomplete.lsp.protocol import PyccProtocol

log = logging.getLogger(__name__)

SERVER_NAME = "pycc-lsp"
# Characters after which the editor asks for completions although no identifier is
# being typed (identifier characters always ask). Measured with
# `python benchmarks/lsp_triggers.py` (shipped default model, held-out six.py,
# 34,703 characters typed one by one; "useful": one of the 5 suggestions offered
# right after the character is a prefix of the code that follows; "saved": the
# keystrokes accepting it saves, per time the character is typed):
#
#   typed after        positions  useful  saved/position
#   identifier char       22,701   30.2%   0.88   (editors ask here anyway: the baseline)
#   space after code       2,148   13.2%   0.45   listed: the largest total saving
#   .                        432   16.7%   0.75   listed
#   =                        209   13.9%   0.46   listed
#   ,                        679    5.3%   0.39   listed
#   (                        449    8.2%   0.25   listed
#   [                         39    5.1%   0.15   not listed
#   :                        230    0.4%   0.01   not listed: after ":" comes a line end
#   newline                1,002   33.3%   1.31   not listed: a popup after Enter would take
#                                                 the next Enter as "accept"
#
# A character is listed when it was typed at least 200 times and its popup saves at
# least a quarter keystroke each time it opens. Rarer characters scored high on few
# samples (' 55 times, 2.09; * 75, 4.53; # 61, 0.39) and are left out until a larger
# measurement. Spaces typed as indentation scored 28.2% / 1.46, but editors insert
# indentation themselves, so that is no reason to list the space.
TRIGGER_CHARACTERS = [".", " ", "=", ",", "("]
POSITION_REQUESTS = (types.TEXT_DOCUMENT_COMPLETION, types.TEXT_DOCUMENT_INLINE_COMPLETION)
TIMINGS_METHOD = "pycc/timings"
TIMINGS_KEPT = 4096
SUFFIX_CHARS = 2000  # text after the cursor sent along: the rest of the line and a few lines below


@dataclass(frozen=True)
class ServerOptions:
    n: int = 5  # suggestions per request (1..10)
    workers: int = 2  # threads running completions; more only queue on the same cores
    max_document_chars: int = documents.MAX_DOCUMENT_CHARS
    max_prefix_chars: int = documents.MAX_PREFIX_CHARS


class PyccLanguageServer(LanguageServer):
    def __init__(self, backend, options: ServerOptions):
        super().__init__(SERVER_NAME, __version__, protocol_cls=PyccProtocol)
        self.backend = backend
        self.options = options
        self.clock = ChangeClock()
        self.pool = ThreadPoolExecutor(options.workers, thread_name_prefix="pycc-lsp")
        self.shutdown_received = False
        self.timings: deque = deque(maxlen=TIMINGS_KEPT)  # [request id, ms in backend.complete]
        self._client_log: ClientLogHandler | None = None

    # ------------------------------------------------------------------ requests

    def request_arrived(self, message) -> None:
        """Called by the protocol as each request is read: note its document's change count."""
        if message.method in POSITION_REQUESTS:
            document = getattr(message.params, "text_document", None)
            if document is not None:
                self.clock.note_arrival(message.id, document.uri)

    async def suggestions(self, uri: str, position: types.Position, inline: bool = False) -> tuple:
        """(cursor, suggestions) for a request; (None, []) when it gets none.

        The text after the cursor goes along as the suffix (suggestions never repeat it);
        inline (ghost-text) requests also get a block's body at the end of a line that opens one.
        """
        request_id = self.protocol.msg_id
        arrived = self.clock.arrived_at(request_id, uri)
        document = self.workspace.text_documents.get(unquote(uri))
        if document is None or not documents.is_python(document.language_id):
            return None, []
        if self.clock.generation(uri) != arrived:
            return None, []  # the document changed after the request was sent
        source = document.source
        if len(source) > self.options.max_document_chars:
            return None, []
        cursor = documents.locate(document.lines, position.line, position.character,
                                  document.position_codec.client_num_units)
        if cursor is None:
            return None, []
        text = documents.clip_prefix(source[:cursor.offset], self.options.max_prefix_chars)
        suffix = source[cursor.offset:cursor.offset + SUFFIX_CHARS]
        job = asyncio.get_running_loop().run_in_executor(self.pool, self._complete, text, uri, arrived,
                                                         request_id, suffix, inline)
        stale = self.clock.watch(uri)
        try:
            await asyncio.wait((job, stale), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            job.cancel()  # $/cancelRequest (or shutdown): a job still queued never runs
            raise
        finally:
            self.clock.unwatch(uri, stale)
        if stale.done():
            job.cancel()
            return None, []
        return cursor, job.result()

    def _complete(self, text: str, uri: str, generation: int, request_id, suffix: str = "",
                  inline: bool = False) -> list:
        """In a worker thread: the backend's suggestions, unless the request went stale meanwhile."""
        if self.clock.generation(uri) != generation:
            return []
        started = time.perf_counter()
        try:
            return list(self.backend.complete(text, self.options.n, uri, suffix=suffix, multiline=inline))
        except Exception:  # noqa: BLE001 - a failed completion is an empty one
            log.exception("completion failed for %s", uri)
            return []
        finally:
            self.timings.append([request_id, round((time.perf_counter() - started) * 1000, 3)])

    # ------------------------------------------------------------------ lifecycle and errors

    def forget(self, uri: str) -> None:
        self.clock.forget(uri)
        try:
            self.backend.forget(uri)
        except Exception:  # noqa: BLE001
            log.exception("could not free the state of %s", uri)

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """The session's event loop is running: from now on, warnings also go to the editor's log."""
        self._client_log = ClientLogHandler(self, loop)
        logging.getLogger("pycodecomplete").addHandler(self._client_log)

    def close(self) -> None:
        """Stop taking work (jobs still queued are dropped) and release the backend."""
        if self._client_log is not None:
            logging.getLogger("pycodecomplete").removeHandler(self._client_log)
            self._client_log = None
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.backend.close()

    def report_server_error(self, error: Exception, source) -> None:
        """pygls' hook for errors outside a request: undecodable input, failed notifications.

        Unparseable JSON gets JSON-RPC's ParseError (-32700) with id null; the rest is
        logged (a warning, sent to the editor's log too), never shown as a pop-up."""
        if isinstance(error, (ValueError, RecursionError)):  # json.loads: JSONDecodeError, UnicodeDecodeError
            self.protocol.answer_error(None, types.ErrorCodes.ParseError, f"parse error: {error}")
            return
        log.warning("%s: %s", getattr(source, "__name__", source), error)


def build_server(backend, options: ServerOptions | None = None) -> PyccLanguageServer:
    server = PyccLanguageServer(backend, options or ServerOptions())

    @server.feature(types.INITIALIZED)
    def initialized(ls: PyccLanguageServer, params: types.InitializedParams) -> None:
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Info, message=f"{SERVER_NAME} {__version__}: {ls.backend.describe()}"))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: PyccLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.clock.tick(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: PyccLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.clock.tick(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: PyccLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.forget(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=TRIGGER_CHARACTERS, resolve_provider=False))
    async def completion(ls: PyccLanguageServer, params: types.CompletionParams) -> types.CompletionList:
        cursor, found = await ls.suggestions(params.text_document.uri, params.position)
        return types.CompletionList(is_incomplete=True,
                                    items=items.completion_items(found, cursor) if found else [])

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: PyccLanguageServer,
                                params: types.InlineCompletionParams) -> types.InlineCompletionList:
        cursor, found = await ls.suggestions(params.text_document.uri, params.position, inline=True)
        return types.InlineCompletionList(items=items.inline_items(found, cursor) if found else [])

    @server.feature(TIMINGS_METHOD)
    def timings(ls: PyccLanguageServer, params) -> list:
        taken = []
        while ls.timings:  # popleft is atomic; workers may append meanwhile
            taken.append(ls.timings.popleft())
        return taken

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: PyccLanguageServer, params) -> None:
        ls.shutdown_received = True
        ls.close()

    return server
