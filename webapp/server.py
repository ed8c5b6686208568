"""`pycc serve`: the app under gunicorn, one model loaded before the workers fork.

**Workers.** `FrontWorker` is gunicorn's own asyncio worker (``asgi``) serving
`webapp.front.BufferingFront`: the event loop reads each request whole, then the
Flask app runs on a pool of `threads` threads that share one engine and its
per-document cache, as gthread's threads did. Why not gthread: there a thread
reads its own request, so a few clients sending their bodies a byte at a time
held every thread and the server answered nobody (`webapp.front` has the
figures; `tests/test_security.py` the slow-client test, which fails on gthread).

**JSON errors.** gunicorn answers a request it cannot parse itself: 414 for a
request line over 4,094 bytes, 431 for too many or too large headers, 400 for
garbage. Its asyncio worker builds each connection's protocol from the name
`gunicorn.workers.gasgi.ASGIProtocol`; `FrontWorker` points that name, in its
own process, at `JSONErrorProtocol`, which writes those answers as
``{"error": ...}`` instead of text. The tests send all three to a real server,
so a gunicorn upgrade that moves this fails loudly (requirements pin gunicorn 27).

**Loading.** The app, and so the model, is loaded in the master (`preload_app`):
a bad model directory or database fails before the port is bound, and workers
share the weights' pages. Runtime sessions (ONNX Runtime) do not survive a fork,
so each worker builds its own in `post_worker_init`, before its first request
(`engine.warm()`), and sets its per-process metrics. `child_exit` drops a dead
worker's live gauges (`webapp.metrics`); `worker_exit` writes the telemetry
events still queued.
"""
from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus

from gunicorn.app.base import BaseApplication
from gunicorn.asgi.protocol import _REASON_PHRASES, ASGIProtocol
from gunicorn.workers import gasgi

from webapp import create_app, engine_of
from webapp.events import recorder_of
from webapp.front import BODY_SECONDS, BufferingFront
from webapp.metrics import mark_worker_dead, metrics_of

log = logging.getLogger(__name__)


class JSONErrorProtocol(ASGIProtocol):
    """gunicorn's HTTP/1.1 protocol, whose own error answers (414, 431, 400...) are JSON."""

    def _send_error_response(self, status, message, extra_headers=()):
        try:
            reason = _REASON_PHRASES.get(status) or HTTPStatus(status).phrase
        except ValueError:
            reason = "Error"
        body = json.dumps({"error": message or reason}).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in extra_headers)
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n")
        self._safe_write(head.encode("latin-1"))
        self._safe_write(body)


class _OneAcceptLoop(asyncio.SelectorEventLoop):
    """An event loop that accepts one connection each time the listening socket is ready.

    Why: asyncio accepts up to 100 at once, so with workers sharing one listening
    socket, the first to wake took a whole burst of connections: 32 clients that
    connected together were measured 28 on one worker and 4 on the other, and with
    keep-alive they stay there, leaving the other worker's core idle. One at a time,
    every waiting worker wakes and takes its turn: 17/15, 24/8, 20/12, 24/8 and 22/10
    in five runs on this 2-core machine under a load of 15 (the busier worker is the
    one the kernel runs first), where asyncio's batch gave 28/4. Only the accept
    loop's batch changes (asyncio's `_accept_connection`, whose signature is the same
    from Python 3.10 to 3.13), not the listen backlog."""

    def _accept_connection(self, protocol_factory, sock, sslcontext=None, server=None, backlog=100, *rest):
        super()._accept_connection(protocol_factory, sock, sslcontext, server, 1, *rest)


class FrontWorker(gasgi.ASGIWorker):
    """gunicorn's asyncio worker with JSON error answers and fair accepts (see the module docstring)."""

    def init_process(self):
        gasgi.ASGIProtocol = JSONErrorProtocol  # in this worker process only
        super().init_process()

    def _setup_event_loop(self):
        self.loop = _OneAcceptLoop()
        asyncio.set_event_loop(self.loop)


class _Server(BaseApplication):
    def __init__(self, app, options: dict):
        self.app, self.options = app, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)
        if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: no gunicornc socket
            self.cfg.set("control_socket_disable", True)

    def load(self):
        return self.app


def serve(config: dict, *, host: str, port: int, workers: int, threads: int,
          body_seconds: float = BODY_SECONDS) -> None:
    """Load the app with `config` overrides and serve it until stopped."""
    app = create_app(config)  # loads the model now: a bad directory fails here, before binding
    app.debug = False
    front = BufferingFront(app, threads=threads, max_body=app.config["MAX_CONTENT_LENGTH"],
                           body_seconds=body_seconds)

    def warm_worker(worker) -> None:
        warm = getattr(engine_of(app), "warm", None)
        if warm is not None:
            warm()
        metrics_of(app).worker_started()

    def worker_exit(server, worker) -> None:
        recorder = recorder_of(app)
        if recorder is not None:
            recorder.close()

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "webapp.server.FrontWorker",
        "worker_connections": 1000,
        "preload_app": True,
        "proc_name": "pycc-serve",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 10,
        "keepalive": 5,
        "post_worker_init": warm_worker,
        "worker_exit": worker_exit,
        "child_exit": lambda server, worker: mark_worker_dead(worker.pid),
    }
    log.info("serving %s on http://%s:%d/ (%d worker(s) x %d thread(s))",
             engine_of(app).name, host, port, workers, threads)
    _Server(front, options).run()
