"""Running the server over stdio or TCP, and ending it the way LSP says.

pygls' own ``start_io`` reads stdin through its thread pool, one executor round
trip per header line and per body, and on ``exit`` waits for that pool, whose
reader is blocked on stdin until the editor closes the pipe, and exits 0 whatever
the protocol says. Here one daemon thread copies stdin into an asyncio
`StreamReader`, pygls' `run_async` reads messages from it, and:

* **stdout belongs to the protocol.** File descriptor 1 is duplicated for the
  protocol's writer, then pointed at stderr, so a stray ``print`` or a native
  library's chatter (in Python or C) lands in stderr instead of corrupting the
  message stream.
* **Exit codes** follow LSP: ``exit`` after ``shutdown`` is 0, without it 1; the
  editor closing the pipe is the same as ``exit``.
* **TCP** (``--tcp``) serves one editor connection, then ends, as a stdio server
  does when its editor goes. A second connection while one is open is refused.
  The bound address is logged (with port 0 the system picks a free port).
* **Broken framing never ends the server with a traceback**: a header line over
  the reader's limit is dropped (pygls then skips lines until the next
  ``Content-Length``), and a body cut short by the end of input ends the session
  as the end of input does (`_LenientReader`).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading

from pygls.io_ import StdoutWriter, run_async

log = logging.getLogger(__name__)

_STDIN, _STDOUT, _STDERR = 0, 1, 2  # file descriptors: the process' own, whatever sys.std* wrap
_CHUNK = 1 << 16
_LINE_LIMIT = 1 << 20  # longest header line read (asyncio's default is 64 KiB)


def serve_stdio(server) -> int:
    sys.stdout.flush()
    protocol_out = os.fdopen(os.dup(_STDOUT), "wb")
    os.dup2(_STDERR, _STDOUT)

    async def session() -> None:
        loop = asyncio.get_running_loop()
        server.bind_loop(loop)
        reader = asyncio.StreamReader(limit=_LINE_LIMIT)
        threading.Thread(target=_pump, args=(_STDIN, reader, loop), name="pycc-lsp-stdin", daemon=True).start()
        server.protocol.set_writer(StdoutWriter(protocol_out))
        await _serve(server, reader)

    return _run(server, session)


def serve_tcp(server, host: str, port: int) -> int:
    async def session() -> None:
        server.bind_loop(asyncio.get_running_loop())
        finished = asyncio.Event()
        busy = False

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal busy
            peer = writer.get_extra_info("peername")
            if busy:
                log.warning("refusing a second connection from %s: one editor per server", peer)
                writer.close()
                return
            busy = True
            log.info("editor connected from %s", peer)
            server.protocol.set_writer(writer)
            try:
                await _serve(server, reader)
            finally:
                finished.set()

        listener = await asyncio.start_server(connection, host, port, limit=_LINE_LIMIT)
        address = listener.sockets[0].getsockname()
        log.info("pycc lsp listening on %s:%d", address[0], address[1])
        async with listener:
            await finished.wait()

    return _run(server, session)


async def _serve(server, reader) -> None:
    await run_async(stop_event=threading.Event(), reader=_LenientReader(reader), protocol=server.protocol,
                    logger=logging.getLogger("pygls.server"), error_handler=server.report_server_error)


class _LenientReader:
    """The two calls pygls' `run_async` makes, without the exceptions broken input raises."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader

    async def readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError:  # over the limit: asyncio has dropped the line
            log.warning("dropped a header line over %d bytes", _LINE_LIMIT)
            return b"\r\n"

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError:  # the input ended inside a message
            return b""


def _run(server, session) -> int:
    """Run a session to its end; the exit code LSP asks for."""
    try:
        asyncio.run(session())
        code = 0 if server.shutdown_received else 1  # the editor went away, with or without shutdown
    except SystemExit as stop:  # pygls raises it on the `exit` notification
        code = stop.code if isinstance(stop.code, int) else 1
    finally:
        server.close()
    log.info("pycc lsp: session over (exit code %d)", code)
    return code


def _pump(fd: int, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
    """Copy the bytes of `fd` into `reader` until end of file (runs in its own thread)."""
    try:
        try:
            while chunk := os.read(fd, _CHUNK):
                loop.call_soon_threadsafe(reader.feed_data, chunk)
        except OSError as exc:
            log.warning("reading stdin failed: %s", exc)
        loop.call_soon_threadsafe(reader.feed_eof)
    except RuntimeError:  # the loop already ended (exit)
        pass
