"""`pycc lsp`: the language server for editors (VS Code, Neovim, Helix, Emacs, Sublime Text...)."""
from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import urlsplit

from pycodecomplete.cli.common import ENGINE_FLAGS, add_engine_flags, load_engine, read_secret
from pycodecomplete.errors import OptionError, PyccError

DEFAULT_TIMEOUT = 2.0  # seconds: a completion later than this is of no use to someone typing
N_RANGE = (1, 10)  # suggestions per request, as the JSON API allows

DESCRIPTION = """\
Serve completions to editors over the Language Server Protocol. By default the
server speaks LSP on stdin/stdout, which is how editors start one: point your
editor's LSP client at the command `pycc lsp` for Python files (the README has
configurations for Neovim, Helix, Emacs, Sublime Text and VS Code). Logs go to
stderr and to the editor's LSP log, never to stdout.

The model runs in this process (--model and the engine flags, as for `pycc serve`),
or, with --server URL, on a running `pycc serve` that a team can share: the
language server then only forwards requests to its JSON API.

The server answers textDocument/completion (items that replace the word being
typed with the whole suggestion, in the model's order, with its probability) and
textDocument/inlineCompletion (ghost text). Edits sync fully or incrementally; a
completion overtaken by a newer edit is answered empty, and $/cancelRequest is
honoured."""


def register(sub) -> None:
    p = sub.add_parser("lsp", help="serve completions to editors over the Language Server Protocol",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tcp", metavar="HOST:PORT", default=None,
                   help="listen on TCP instead of stdio, for one editor connection (PORT alone means "
                        "127.0.0.1:PORT; port 0 picks a free one and logs it)")
    add_engine_flags(p)
    p.add_argument("--server", metavar="URL", default=None,
                   help="use a running `pycc serve` at URL (http://HOST:PORT) instead of a model in this "
                        "process; --model and the engine flags then do not apply")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help=f"with --server: how long to wait for each answer (default {DEFAULT_TIMEOUT:g}); "
                        "a late completion is answered empty")
    p.add_argument("--token-file", type=Path, default=None, metavar="FILE",
                   help="with --server: a file holding the server's access token, sent as "
                        "'Authorization: Bearer TOKEN' (never logged)")
    p.add_argument("--n", type=int, default=5, help="suggestions per completion (1..10, default 5)")
    p.set_defaults(func=cmd_lsp)


def cmd_lsp(args) -> int:
    tcp = parse_tcp(args.tcp) if args.tcp is not None else None
    if not N_RANGE[0] <= args.n <= N_RANGE[1]:
        raise OptionError("n", f"must be from {N_RANGE[0]} to {N_RANGE[1]}")
    if args.server is None:
        for flag, value in (("--timeout", args.timeout), ("--token-file", args.token_file)):
            if value is not None:
                raise PyccError(f"{flag} applies to --server (a remote pycc serve)")
        from pycodecomplete.lsp.backends import LocalBackend

        backend = LocalBackend(load_engine(args))
    else:
        local = ["--model"] * (args.model is not None) + [
            "--" + name.replace("_", "-") for name in ENGINE_FLAGS if getattr(args, name, None) is not None]
        if local:
            raise PyccError(f"{', '.join(local)}: with --server, the server's own model and settings answer")
        timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
        if not timeout > 0:
            raise OptionError("timeout", "must be more than 0 seconds")
        token = read_token(args.token_file) if args.token_file is not None else None
        from pycodecomplete.lsp.backends import RemoteBackend

        backend = RemoteBackend(check_url(args.server), timeout, token)
        backend.check()  # logs what answers, or why nothing does; the editor still gets a server
    from pycodecomplete.lsp import serve

    return serve(backend, n=args.n, tcp=tcp, verbose=getattr(args, "verbose", False))


def parse_tcp(value: str) -> tuple[str, int]:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT`` -> (host, port); the host defaults to 127.0.0.1."""
    text = value.strip()
    if text.isdigit():
        host, port = "127.0.0.1", text
    elif text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise PyccError(f"--tcp must be HOST:PORT or PORT (a port from 0 to 65535), not {value!r}")
    return host, int(port)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise PyccError(f"--server must be an http:// or https:// URL of a pycc serve, not {url!r}")
    return url.rstrip("/")


def read_token(path: Path) -> str:
    token = read_secret(path, "--token-file")
    if not (token.isascii() and token.isprintable()):
        raise PyccError(f"--token-file {path} must hold printable ASCII (it goes in an HTTP header)")
    return token
