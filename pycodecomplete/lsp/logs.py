"""Where the language server's log lines go: stderr, and the editor's log.

In stdio mode stdout carries the protocol, so nothing may be logged there. Logs go
to stderr (the CLI's handler), and this package's warnings also go to the client as
``window/logMessage``, which editors show in their LSP log.

pygls logs every message it sends at INFO, with its body (the person's code), and
some client mistakes with a full traceback. Unless ``--verbose``, its loggers are
kept at WARNING, its tracebacks shortened to one line, and two warnings that
ordinary editors cause all the time are dropped: a ``$/cancelRequest`` for a request
already answered (VS Code cancels superseded completions), and a notification the
server has no handler for (``workspace/didChangeConfiguration``...).
"""
from __future__ import annotations

import logging

from lsprotocol import types

_LEVELS = ((logging.ERROR, types.MessageType.Error), (logging.WARNING, types.MessageType.Warning),
           (logging.INFO, types.MessageType.Info))


_ROUTINE = ("Cancel notification for unknown message id", "Ignoring notification for unknown method")


class QuietPygls(logging.Filter):
    """Drop pygls' routine warnings; shorten a traceback (attached, or pasted into the message) to one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("pygls"):
            return True
        message = record.getMessage()
        if message.startswith(_ROUTINE):
            return False
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            message = f"{message}: {type(error).__name__}: {error}"
        elif "\n" in message:
            message = message.split("\n", 1)[0] + " (details with --verbose)"
        else:
            return True
        record.msg, record.args, record.exc_info, record.exc_text = message, (), None, None
        return True


def configure_logging(verbose: bool) -> None:
    logging.getLogger("pygls").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, QuietPygls) for f in handler.filters):
                handler.addFilter(QuietPygls())


class ClientLogHandler(logging.Handler):
    """Sends records to the editor as ``window/logMessage``, from any thread.

    Messages are written on the event loop's thread (the protocol's writer is not
    thread-safe), and only once the client has sent ``initialize``."""

    def __init__(self, server, loop, level: int = logging.WARNING):
        super().__init__(level)
        self.server, self.loop = server, loop
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            kind = next((kind for level, kind in _LEVELS if record.levelno >= level), types.MessageType.Log)
            self.loop.call_soon_threadsafe(self._send, message, kind)
        except RuntimeError:  # the loop is closed: the session is over
            pass
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)

    def _send(self, message: str, kind: types.MessageType) -> None:
        protocol = self.server.protocol
        if protocol.writer is None or not getattr(protocol, "initialize_received", True):
            return
        self.server.window_log_message(types.LogMessageParams(type=kind, message=message))
