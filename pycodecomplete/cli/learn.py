"""Learning commands: `pycc corpus`, `pycc train`, `pycc evaluate`."""
from __future__ import annotations

import json
from pathlib import Path

from pycodecomplete.cli.common import (INSTALLED_HELP, MODEL_HELP, add_corpus_flags, corpus_from_args, corpus_roots,
                                       model_dir, print_json)
from pycodecomplete.config import PRESETS
from pycodecomplete.families import FAMILIES


def register(sub) -> None:
    p = sub.add_parser("corpus", help="show what a corpus holds, without training",
                       description="Read .py files recursively and print files, characters, the "
                                   "train/validation split and what was skipped, by reason. With no "
                                   "directory, the corpus is this interpreter's standard library "
                                   "(without its test suites).")
    add_corpus_flags(p)
    p.set_defaults(func=cmd_corpus)

    p = sub.add_parser("train", help="train or resume a model directory",
                       description="Train a model into --out. Running the same command again after an "
                                   "interruption resumes from the last checkpoint; budgets are totals "
                                   "for the directory. With more than one GPU visible, training is "
                                   "mirrored across all of them.")
    p.add_argument("--out", required=True, type=Path, help="the model directory to create or resume")
    p.add_argument("--corpus", action="append", type=Path, metavar="DIR",
                   help="a directory of .py files (repeatable; default: the stdlib)")
    p.add_argument("--installed", action="store_true", help=INSTALLED_HELP)
    p.add_argument("--init-from", type=Path, metavar="DIR",
                   help="start a new model directory from this one's weights (same architecture, checked), "
                        "with a fresh optimizer; the lineage is recorded in summary.json")
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="starting config (default: cpu, or gpt2-cpu with --arch gpt2; `paper` is the 4x512 "
                        "reference, gpt2-small GPyT's 12x768 GPT-2)")
    p.add_argument("--arch", choices=tuple(FAMILIES),
                   help="model family: lstm (characters) or gpt2 (byte-level BPE, keras-hub GPT-2); the "
                        "gpt2-* presets imply gpt2, and --arch gpt2 alone starts from gpt2-cpu")
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
    p.add_argument("--model", type=Path, default=None, metavar="DIR", help=MODEL_HELP)
    p.add_argument("--data", action="append", type=Path, metavar="PATH",
                   help="a .py file or a directory of them (repeatable)")
    p.add_argument("--max-chars", type=int, help="stop after this many characters")
    p.add_argument("--keystrokes", action="store_true",
                   help="also simulate typing the files with 5 suggestions (keystroke savings)")
    p.add_argument("--edits", action="store_true",
                   help="also retype spans deleted from the middle of the files, with the code after them "
                        "sent as the suffix and without it (keystroke savings, suggestions that repeat the suffix)")
    p.add_argument("--context", default="document", metavar="document|window:N",
                   help="what the model reads before each character: the whole file with its state "
                        "carried (document, default) or only the last N >= 100 characters (window:N)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)


def cmd_corpus(args) -> int:
    stats = corpus_from_args(args).stats()
    if args.json:
        print_json(stats)
        return 0
    print(f"roots:      {', '.join(stats['roots'])}")
    if "installed" in stats:
        installed = stats["installed"]
        print(f"installed:  {installed['distributions']} distributions read; excluded by name: "
              f"{', '.join(installed['excluded']) or 'none'}; left out by license: "
              + (", ".join(f"{k} {v}" for k, v in installed["left_out_by_license"].items()) or "none"))
    print(f"files:      {stats['files']:,}  ({stats['train']['files']:,} train / {stats['val']['files']:,} validation)")
    print(f"characters: {stats['chars']:,}  ({stats['train']['chars']:,} train / {stats['val']['chars']:,} validation)")
    skipped = {k: v for k, v in stats["skipped"].items() if v}
    print("skipped:    " + (", ".join(f"{k} {v}" for k, v in skipped.items()) if skipped else "none"))
    return 0


def cmd_train(args) -> int:
    from pycodecomplete.config import default_preset, preset_for
    from pycodecomplete.ml.budget import Budget

    config = preset_for(args.preset or default_preset(args.arch), args.arch)
    overrides = list(args.set or [])
    for flag in ("batch_size", "objective"):
        if getattr(args, flag, None) is not None:
            overrides.append(f"{flag}={getattr(args, flag)}")
    config = config.with_overrides(overrides)
    budget = Budget(max_steps=args.max_steps, epochs=args.epochs, minutes=args.minutes).validate()

    from pycodecomplete.ml.trainer import train

    train(args.out, corpus_roots(args.corpus, args.installed), config, budget, init_from=args.init_from)
    print(f"model directory: {args.out}")
    return 0


def cmd_evaluate(args) -> int:
    from pycodecomplete.ml.evaluate import evaluate

    result = evaluate(model_dir(args), args.data, max_chars=args.max_chars, keystrokes=args.keystrokes,
                      context=args.context, edits=args.edits)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0
