"""`pycc lsp`: a Language Server that serves the completion engine to editors.

| module | job |
|---|---|
| `server` | the pygls server: document sync, completion, inline completion, the thread pool |
| `protocol` | LSP lifecycle rules and JSON-RPC error answers pygls leaves out |
| `freshness` | which pending completions a newer edit made stale |
| `documents` | language, cursor position and size rules: from a document to the engine's text |
| `items` | suggestions as `CompletionItem`s and `InlineCompletionItem`s |
| `backends` | the engine in this process, or a running `pycc serve` over its JSON API |
| `transport` | stdio and TCP, stdout kept for the protocol, LSP exit codes |
| `logs` | stderr and `window/logMessage`, never stdout |

The CLI (`pycodecomplete/cli/lsp.py`) reads the flags, builds a backend and calls
`serve`. Nothing here imports TensorFlow; in remote mode nothing loads a model.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def serve(backend, *, n: int = 5, tcp: tuple[str, int] | None = None, verbose: bool = False) -> int:
    """Serve `backend` over stdio, or TCP at `tcp` = (host, port), until the editor ends the session.

    Returns the process exit code LSP asks for (0 after shutdown and exit, else 1)."""
    from pycodecomplete.lsp.logs import configure_logging
    from pycodecomplete.lsp.server import ServerOptions, build_server
    from pycodecomplete.lsp.transport import serve_stdio, serve_tcp

    configure_logging(verbose)
    warm = getattr(backend, "warm", None)
    if warm is not None:
        started = time.perf_counter()
        warm()
        log.info("warmed up in %.2f s", time.perf_counter() - started)
    server = build_server(backend, ServerOptions(n=n))
    log.info("pycc lsp: %s", backend.describe())
    return serve_tcp(server, *tcp) if tcp else serve_stdio(server)
