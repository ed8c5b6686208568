"""pygls' LSP protocol, with the answers the specification asks for on bad input.

pygls (2.1) reads and dispatches messages; this subclass adds what it leaves out:

* **Before ``initialize``** a request gets the error ``ServerNotInitialized``
  (-32002) and a notification is dropped (``exit`` excepted), as LSP says. A second
  ``initialize`` is an ``InvalidRequest``.
* **After ``shutdown``** a request gets ``InvalidRequest`` (pygls drops it, which
  leaves the client waiting).
* **A request whose params do not fit the method** (a completion without a
  position, say) gets ``InvalidParams`` with its id. pygls raises while decoding,
  before it knows the id, so the client would never hear back.
* **A message that is not JSON-RPC 2.0** (an array, a number, a wrong version) gets
  ``InvalidRequest`` with id null. Unparseable JSON gets ``ParseError``, sent by
  the server's error reporter (`PyccLanguageServer.report_server_error`), which is
  where pygls hands decoding failures.
* **No traceback leaves the process** in a response: pygls puts one in the data of
  an internal error; it is logged to stderr instead.

It also tells the server when a completion request arrives (``request_arrived``),
before any later message is read, so that a request overtaken by an edit is known
to be stale (see `freshness`).
"""
from __future__ import annotations

import logging

from cattrs import transform_error
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import RPCRequest

log = logging.getLogger(__name__)


class _Unreadable:
    """A message that did not decode: params that do not fit its method, or a method that is no name."""

    jsonrpc = "2.0"

    def __init__(self, msg_id, method, error: Exception):
        self.id, self.method, self.error = msg_id, method, error
        self.code = types.ErrorCodes.InvalidParams if isinstance(method, str) else types.ErrorCodes.InvalidRequest


def _explain(error: Exception) -> str:
    """What did not fit, in cattrs' words ("required field missing @ $.params.position")."""
    cause = error.__cause__
    try:
        return "; ".join(transform_error(cause)) if cause is not None else str(error)
    except Exception:  # noqa: BLE001 - not a cattrs validation error
        return f"{type(cause).__name__}: {cause}"


def _valid_id(msg_id):
    return msg_id if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool) else None


class PyccProtocol(LanguageServerProtocol):
    def __init__(self, server, converter):
        super().__init__(server, converter)
        self.initialize_received = False

    # ------------------------------------------------------------------ reading

    def structure_message(self, data):
        if isinstance(data, dict) and "jsonrpc" in data and "method" in data and "params" not in data:
            data = {**data, "params": None}  # JSON-RPC lets params be omitted; pygls' generic types need it
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "method" in data:
                return _Unreadable(_valid_id(data.get("id")) if "id" in data else None, data["method"], exc)
            raise

    def handle_message(self, message) -> None:
        if isinstance(message, _Unreadable):
            if message.code == types.ErrorCodes.InvalidParams:
                problem = f"invalid params for {message.method}: {_explain(message.error)}"
            else:
                problem = f"the method must be a string, not {message.method!r:.100}"
            log.warning("%s%s", problem, "" if message.id is None else f" (request {message.id})")
            if message.id is not None:
                self.answer_error(message.id, message.code, problem)
            return
        if getattr(message, "jsonrpc", None) != "2.0":
            raw_id = message.get("id") if isinstance(message, dict) else getattr(message, "id", None)
            self.answer_error(_valid_id(raw_id), types.ErrorCodes.InvalidRequest, "not a JSON-RPC 2.0 message")
            return
        method = getattr(message, "method", None)
        request = isinstance(message, RPCRequest)
        if not self.initialize_received:
            if request and method == types.INITIALIZE:
                self.initialize_received = True
            elif method != types.EXIT:
                if request:
                    self.answer_error(message.id, types.ErrorCodes.ServerNotInitialized,
                                      f"{method} before initialize")
                else:
                    log.debug("dropping %s notification before initialize", method)
                return
        elif request and method == types.INITIALIZE:
            self.answer_error(message.id, types.ErrorCodes.InvalidRequest, "initialize was already received")
            return
        if request and self._shutdown:
            self.answer_error(message.id, types.ErrorCodes.InvalidRequest, f"{method} after shutdown")
            return
        if request:
            arrived = getattr(self._server, "request_arrived", None)
            if arrived is not None:
                arrived(message)
        super().handle_message(message)

    # ------------------------------------------------------------------ writing

    def answer_error(self, msg_id, code: int, message: str) -> None:
        """Send an error response (id None: the message's id could not be read)."""
        self._send_response(msg_id, error=types.ResponseError(code=code, message=message))

    def _send_response(self, msg_id, result=None, error=None):
        if error is not None and error.data is not None:
            # pygls attaches the traceback of a failed handler; it went to the log (stderr).
            error = types.ResponseError(code=error.code, message=error.message)
        super()._send_response(msg_id, result=result, error=error)
