"""The `pycc` command line: the only place that reads flags.

Commands are declared by stage, one module each, listed in `STAGES` (the one
place to add a stage): each module has ``register(sub)``, which adds its
subcommands to the parser and points each at its handler with ``set_defaults(func=...)``.

Stage modules import only the standard library at the top; every handler imports
its machinery when it runs. So `pycc --help` is instant, and `pycc serve` can set
BLAS's thread count in the environment before numpy first loads.

Errors: a `PyccError` is printed as one line (``pycc COMMAND: error: ...``) and
exits 2; an `OptionError` names a library field, which `flag_for` turns into the
flag that set it. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys

from pycodecomplete import __version__
from pycodecomplete.errors import OptionError, PyccError

log = logging.getLogger("pycodecomplete")

# Stage modules, in the order `pycc --help` lists their commands.
STAGES = ("learn", "serve", "crawl", "tokens", "lsp", "stats")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycc",
        description="PyCodeComplete: self-hosted Python autocompletion learned from Python code.",
        epilog="Run `pycc COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"pycc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for stage in STAGES:
        try:
            module = importlib.import_module(f"pycodecomplete.cli.{stage}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pycodecomplete.cli.{stage}":
                raise
            continue  # a stage not in this checkout
        module.register(sub)
    return parser


def flag_for(args: argparse.Namespace, field: str) -> str:
    """The flag that sets library field `field` in this command (``--field-name`` unless renamed)."""
    renamed = getattr(args, "flag_names", None) or {}
    return renamed.get(field, "--" + field.replace("_", "-"))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.verbose:
        # TensorFlow's C++ start-up chatter (oneDNN, missing CUDA) is noise for people.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except OptionError as exc:
        problem = exc.problem
        for field in exc.related:
            problem = re.sub(rf"\b{field}\b", flag_for(args, field), problem)
        print(f"pycc {args.command}: error: {flag_for(args, exc.field)} {problem}", file=sys.stderr)
        return 2
    except PyccError as exc:
        print(f"pycc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pycc {args.command}: interrupted", file=sys.stderr)
        return 130
