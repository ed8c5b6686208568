"""The request-reading front: whole requests in on an event loop, then the Flask app in a thread.

Why: under gunicorn's ``gthread`` worker a thread reads its request itself, so
four connections that sent their bodies one byte at a time held all four threads
of a worker, and every other request waited as long as they stayed (75 s in a
probe). Here gunicorn's own asyncio worker (``asgi``, `webapp.server.FrontWorker`)
reads requests: a connection costs a coroutine and its bytes, not a thread. This
front then takes the body on the event loop, whole, up to ``max_body`` bytes
(413 beyond, chunked or not) and within ``body_seconds`` (408 after), and only then
hands the request to the WSGI app on one of ``threads`` threads (a2wsgi's
`WSGIMiddleware`, which turns the ASGI request into a WSGI environ). The answer
is collected from the thread and written by the event loop, so a client that
reads slowly holds no thread either. The threads compute exactly as gthread's
did, sharing one engine and its document cache. The moment a request is whole is
handed on (`ARRIVED`): under overload a request's time budget then includes its
wait for a thread, so late requests answer with what little they can, and the
queue drains instead of growing.

Everything the front refuses is JSON, as the API promises (``{"error": ...}``).
"""
from __future__ import annotations

import asyncio
import json
import time

from a2wsgi import WSGIMiddleware

BODY_SECONDS = 30.0  # a body slower than this is refused (408): ~70 KB/s for the largest body
_GONE = bytearray(b"gone")  # marker: the client disconnected while sending its body
# Scope key (the WSGI environ's "asgi.scope"): time.monotonic() when the request was whole, so
# that the time it then waits for one of the threads counts against its time budget.
ARRIVED = "pycc.arrived"


async def send_json_error(send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BufferingFront:
    """An ASGI app: reads each request whole, then runs `wsgi_app` on a thread pool."""

    def __init__(self, wsgi_app, *, threads: int, max_body: int | None, body_seconds: float = BODY_SECONDS):
        self.inner = WSGIMiddleware(wsgi_app, workers=threads)
        self.max_body = max_body
        self.body_seconds = body_seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            await self.inner(scope, receive, send)  # a2wsgi closes websockets
            return
        declared = _content_length(scope)
        if declared == -1:
            await send_json_error(send, 400, "Content-Length is not a number")
            return
        if self.max_body and declared is not None and declared > self.max_body:
            await send_json_error(send, 413, self._too_large())
            return
        try:
            body = await asyncio.wait_for(self._read_body(receive), self.body_seconds)
        except asyncio.TimeoutError:
            await send_json_error(send, 408, f"the request body did not arrive within {self.body_seconds:g} s")
            return
        if body is _GONE:
            return  # the client left before sending its body: nobody to answer
        if body is None:
            await send_json_error(send, 413, self._too_large())
            return
        arrived = time.monotonic()  # the request is whole: a time budget counts from here (`ARRIVED`)
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"content-length", b"transfer-encoding")]
        if body or scope["method"] not in ("GET", "HEAD"):
            headers.append((b"content-length", str(len(body)).encode()))
        answer: list[dict] = []
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return {"type": "http.disconnect"}

        async def collect(message):
            answer.append(message)

        await self.inner({**scope, "headers": headers, ARRIVED: arrived}, replay, collect)
        for message in answer:
            await send(message)

    async def _read_body(self, receive) -> bytearray | None:
        """The whole body, or None past `max_body` bytes (the rest is never read)."""
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return _GONE
            body += message.get("body", b"")
            if self.max_body and len(body) > self.max_body:
                return None
            if not message.get("more_body", False):
                return body

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_body} bytes"


def _content_length(scope) -> int | None:
    """The declared Content-Length; None when absent (chunked), -1 when not a number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return -1
    return None
