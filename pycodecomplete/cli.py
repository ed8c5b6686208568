"""The `pycc` command line: the only place that reads flags.

Every command imports its machinery lazily, so `pycc --help` and the serving
commands never pay for importing TensorFlow.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from pycodecomplete import __version__
from pycodecomplete.errors import PyccError

log = logging.getLogger("pycodecomplete")


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


# ---------------------------------------------------------------- learning ---
# (corpus, train, evaluate)

def _config_from_args(args):
    from pycodecomplete.config import preset

    config = preset(args.preset)
    overrides = list(args.set or [])
    for flag in ("batch_size", "objective"):
        if getattr(args, flag, None) is not None:
            overrides.append(f"{flag}={getattr(args, flag)}")
    return config.with_overrides(overrides)


def _add_learning(sub) -> None:
    from pycodecomplete.config import PRESETS

    p = sub.add_parser("corpus", help="show what a corpus holds, without training",
                       description="Read .py files recursively and print files, characters, the "
                                   "train/validation split and what was skipped, by reason. With no "
                                   "directory, the corpus is this interpreter's standard library "
                                   "(without its test suites).")
    p.add_argument("dirs", nargs="*", metavar="DIR", help="directories of .py files (default: the stdlib)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="config override for the corpus fields (val_fraction, max_file_bytes, max_line_chars)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("train", help="train or resume a model directory",
                       description="Train a model into --out. Running the same command again after an "
                                   "interruption resumes from the last checkpoint; budgets are totals "
                                   "for the directory. With more than one GPU visible, training is "
                                   "mirrored across all of them.")
    p.add_argument("--out", required=True, type=Path, help="the model directory to create or resume")
    p.add_argument("--corpus", action="append", type=Path, metavar="DIR",
                   help="a directory of .py files (repeatable; default: the stdlib)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS),
                   help="starting config (default: cpu; `paper` is the 4x512 reference)")
    p.add_argument("--arch", choices=("lstm", "gpt2"), help=argparse.SUPPRESS)
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config field, e.g. --set lstm_units=384 (unknown keys are errors)")
    p.add_argument("--objective", choices=("every-char", "last-char"),
                   help="every-char: next char at every position (default); last-char: the design's original")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="per-replica batch size")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--max-steps", type=int, help="total optimiser steps")
    budget.add_argument("--epochs", type=int, help="total epochs (of steps_per_epoch steps each)")
    budget.add_argument("--minutes", type=float, help="total wall-clock minutes")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="bits per character and accuracy of a model",
                       description="Score a model on .py files (default: its own validation split). "
                                   "Each file is read from its start with the state carried through it.")
    p.add_argument("--model", required=True, type=Path, help="model directory")
    p.add_argument("--data", action="append", type=Path, metavar="PATH",
                   help="a .py file or a directory of them (repeatable)")
    p.add_argument("--max-chars", type=int, help="stop after this many characters")
    p.add_argument("--keystrokes", action="store_true",
                   help="also simulate typing the files with 5 suggestions (keystroke savings)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


def cmd_corpus(args) -> int:
    from pycodecomplete.config import Config
    from pycodecomplete.ml.corpus import load_corpus

    config = Config().with_overrides(args.set)
    corpus = load_corpus(args.dirs or None, val_fraction=config.val_fraction,
                         max_file_bytes=config.max_file_bytes, max_line_chars=config.max_line_chars,
                         progress=not args.json)
    stats = corpus.stats()
    if args.json:
        _print_json(stats)
        return 0
    print(f"roots:      {', '.join(stats['roots'])}")
    print(f"files:      {stats['files']:,}  ({stats['train']['files']:,} train / {stats['val']['files']:,} validation)")
    print(f"characters: {stats['chars']:,}  ({stats['train']['chars']:,} train / {stats['val']['chars']:,} validation)")
    skipped = {k: v for k, v in stats["skipped"].items() if v}
    print("skipped:    " + (", ".join(f"{k} {v}" for k, v in skipped.items()) if skipped else "none"))
    return 0


def cmd_train(args) -> int:
    config = _config_from_args(args)
    if args.arch:
        config = config.with_overrides({"arch": args.arch})
    from pycodecomplete.ml.train import train

    if args.max_steps is not None and args.max_steps < 1 or args.epochs is not None and args.epochs < 1 \
            or args.minutes is not None and args.minutes <= 0:
        raise PyccError("budgets must be positive")
    train(args.out, args.corpus, config, max_steps=args.max_steps, epochs=args.epochs, minutes=args.minutes)
    print(f"model directory: {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from pycodecomplete.ml.evaluate import evaluate

    if args.max_chars is not None and args.max_chars < 1:
        raise PyccError("--max-chars must be positive")
    result = evaluate(args.model, args.data, max_chars=args.max_chars, keystrokes=args.keystrokes)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0


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
    except PyccError as exc:
        print(f"pycc {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pycc {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
