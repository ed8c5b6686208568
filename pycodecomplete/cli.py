"""The `pycc` command line: the only place that reads flags.

Every command imports its machinery lazily, so `pycc --help` and the serving
commands never pay for importing TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pycodecomplete import __version__
from pycodecomplete.errors import PyccError

log = logging.getLogger("pycodecomplete")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


# ---------------------------------------------------------------- learning ---
# (corpus, train, evaluate)

def _add_learning(sub) -> None:
    pass  # filled in below by the learning pipeline


# ---------------------------------------------------------------- serving ----
# (complete, generate, serve)

def _add_serving(sub) -> None:
    pass


# ---------------------------------------------------------------- scraping ---
# (scrape, clone, retrain)

def _add_scraping(sub) -> None:
    pass


# ---------------------------------------------------------------- gpt --------
# (tokenizer)

def _add_gpt(sub) -> None:
    pass


# ---------------------------------------------------------------- main -------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pycc",
        description="PyCodeComplete: self-hosted Python autocompletion learned from Python code.",
        epilog="Run `pycc COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"pycc {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_learning(sub)
    _add_serving(sub)
    _add_scraping(sub)
    _add_gpt(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
    except PyccError as exc:
        print(f"pycc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pycc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
