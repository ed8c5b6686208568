"""`pycc serve`: the app under gunicorn, one model loaded before the workers fork.

gthread workers (threads share one engine and its per-document cache). The app,
and so the model, is loaded in the master (`preload_app`): a bad model directory
fails before the port is bound, and workers share the weights' pages. Runtime
sessions (ONNX Runtime) do not survive a fork, so each worker builds its own in
`post_worker_init`, before its first request (`engine.warm()`).
"""
from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from webapp import create_app, engine_of

log = logging.getLogger(__name__)


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


def serve(config: dict, *, host: str, port: int, workers: int, threads: int) -> None:
    """Load the app with `config` overrides and serve it until stopped."""
    app = create_app(config)  # loads the model now: a bad directory fails here, before binding
    app.debug = False

    def warm_worker(worker) -> None:
        warm = getattr(engine_of(app), "warm", None)
        if warm is not None:
            warm()

    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "preload_app": True,
        "proc_name": "pycc-serve",
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 10,
        "post_worker_init": warm_worker,
    }
    log.info("serving %s on http://%s:%d/ (%d worker(s) x %d thread(s))",
             engine_of(app).name, host, port, workers, threads)
    _Server(app, options).run()
