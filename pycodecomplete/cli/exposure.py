"""`pycc serve`'s flags for serving more than one person: tokens, hosts, limits, budget, telemetry.

Standard library only (the CLI's rule). `add_exposure_flags` adds the flags,
`exposure_config` turns them into the app's config (`webapp.create_app`), and
`metrics_directory` gives prometheus_client's multiprocess mode a fresh
directory for the server's lifetime.

Tokens: ``--token-file FILE`` (or ``$PYCC_TOKEN_FILE``), one token per line; blank
lines and lines starting with ``#`` are skipped. A token is printable ASCII
without spaces (it travels in an HTTP header) and at least `MIN_TOKEN_CHARS`
long; ``python -c "import secrets; print(secrets.token_urlsafe(32))"`` makes one.
Binding an address other machines can reach without tokens is refused, unless
``--allow-no-token`` says it is meant.
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import tempfile
from pathlib import Path

from pycodecomplete.errors import OptionError, PyccError

MIN_TOKEN_CHARS = 16
DEFAULT_RATE_LIMIT = "50 per second; 1500 per minute"  # the same as webapp.limits (no Flask import here)
DEFAULT_DEADLINE_MS = 1000
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def add_exposure_flags(p) -> None:
    p.add_argument("--token-file", type=Path, default=os.environ.get("PYCC_TOKEN_FILE") or None, metavar="FILE",
                   help="require 'Authorization: Bearer TOKEN' with one of the tokens in FILE (one per line) for "
                        "completions, the model, events and metrics (default: $PYCC_TOKEN_FILE; none)")
    p.add_argument("--allow-no-token", action="store_true",
                   help="serve an address other machines can reach without tokens, deliberately")
    p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                   help="a Host name (or address) the server answers for, besides the address it binds; "
                        ".example.com admits subdomains, * any name (repeatable)")
    p.add_argument("--rate-limit", default="auto", metavar="LIMITS",
                   help=f"requests per token (or address) as 'N per second; M per minute', or off; the default, "
                        f"auto, is '{DEFAULT_RATE_LIMIT}' when the server has tokens or serves other machines, "
                        "and off for one person on 127.0.0.1")
    p.add_argument("--deadline-ms", type=int, default=DEFAULT_DEADLINE_MS, metavar="MS",
                   help=f"time budget of each completion; what runs out answers with the best found so far "
                        f"(default {DEFAULT_DEADLINE_MS}; 0: none)")
    p.add_argument("--db", metavar="URL", default=None,
                   help="database for acceptance telemetry: sqlite:///PATH or mysql+pymysql://USER:PASS@HOST/DB "
                        "(default: the project's SQLite file in the data directory)")
    p.add_argument("--no-telemetry", action="store_true",
                   help="do not record acceptance events (POST /api/events is then not served)")
    p.add_argument("--expose-paths", action="store_true",
                   help="show the model's directory, the training host's platform and corpus paths in /api/model")


def read_tokens(path: Path) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise PyccError(f"cannot read --token-file {path}: {reason}") from None
    tokens = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not tokens:
        raise PyccError(f"--token-file {path} holds no token (one per line)")
    for number, token in enumerate(tokens, 1):  # never print a token, only where it is
        if not (token.isascii() and token.isprintable()) or any(c.isspace() for c in token):
            raise PyccError(f"--token-file {path}: token {number} must be printable ASCII without spaces")
        if len(token) < MIN_TOKEN_CHARS:
            raise PyccError(f"--token-file {path}: token {number} is shorter than {MIN_TOKEN_CHARS} characters; "
                            "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
    return tokens


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def allowed_hosts(bind: str, extra: list[str]) -> list[str] | None:
    """The Host names to answer for: the loopback names, the bound address, or (for 0.0.0.0 and ::)
    this machine's names and addresses; plus `extra`. None (any) when `extra` holds "*"."""
    if "*" in extra:
        return None
    names = set(LOOPBACK_NAMES)
    if bind.strip("[]") in ("0.0.0.0", "::", ""):
        names.update({socket.gethostname(), socket.getfqdn()})
        import psutil

        for addresses in psutil.net_if_addrs().values():
            names.update(a.address.split("%")[0] for a in addresses if a.family in (socket.AF_INET, socket.AF_INET6))
    else:
        names.add(bind.strip("[]"))
    return sorted(names | set(extra))


def exposure_config(args) -> dict:
    """The app config for these flags (raises for a refused combination)."""
    tokens = read_tokens(args.token_file) if args.token_file is not None else []
    if not tokens and not is_loopback(args.host) and not args.allow_no_token:
        raise PyccError(f"--host {args.host} lets other machines use the API, and there is no --token-file: "
                        "give --token-file FILE (one token per line), or --allow-no-token to serve without "
                        "tokens deliberately")
    if args.deadline_ms < 0:
        raise OptionError("deadline_ms", "cannot be negative (0 means no time budget)")
    telemetry = None
    if not args.no_telemetry:
        from pycodecomplete.paths import default_db_url

        telemetry = args.db or default_db_url()
    elif args.db:
        raise PyccError("--db is where telemetry goes; it has no use with --no-telemetry")
    rate_limit = args.rate_limit
    if rate_limit == "auto":  # one person on loopback: as before; shared: limited
        rate_limit = DEFAULT_RATE_LIMIT if tokens or not is_loopback(args.host) else "off"
    return {"API_TOKENS": tokens, "ALLOWED_HOSTS": allowed_hosts(args.host, args.allowed_host),
            "RATE_LIMIT": rate_limit, "DEADLINE_MS": args.deadline_ms, "TELEMETRY_DB": telemetry,
            "EXPOSE_MODEL_PATHS": args.expose_paths}


@contextlib.contextmanager
def metrics_directory():
    """PROMETHEUS_MULTIPROC_DIR for the server's life: a fresh temporary directory, removed at the end.

    Set before anything imports prometheus_client (it reads the variable at import), and inherited by
    the forked workers. An operator's own directory is used instead, emptied first, as the library asks.
    """
    own = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if own:
        Path(own).mkdir(parents=True, exist_ok=True)
        for stale in Path(own).glob("*.db"):
            stale.unlink()
        yield own
        return
    path = tempfile.mkdtemp(prefix="pycc-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    try:
        yield path
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(path, ignore_errors=True)
