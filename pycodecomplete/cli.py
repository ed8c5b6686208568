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
    p.add_argument("--preset", default=None, choices=sorted(PRESETS),
                   help="starting config (default: cpu, or gpt2-cpu with --arch gpt2; `paper` is the 4x512 "
                        "reference, gpt2-small GPyT's 12x768 GPT-2)")
    p.add_argument("--arch", choices=("lstm", "gpt2"),
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
    p.add_argument("--model", required=True, type=Path, help="model directory")
    p.add_argument("--data", action="append", type=Path, metavar="PATH",
                   help="a .py file or a directory of them (repeatable)")
    p.add_argument("--max-chars", type=int, help="stop after this many characters")
    p.add_argument("--keystrokes", action="store_true",
                   help="also simulate typing the files with 5 suggestions (keystroke savings)")
    p.add_argument("--context", default="document", metavar="document|window:N",
                   help="what the model reads before each character: the whole file with its state "
                        "carried (document, default) or only the last N >= 100 characters (window:N)")
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
    # Without --preset: cpu, or the CPU GPT-2 preset with --arch gpt2.
    args.preset = args.preset or ("gpt2-cpu" if args.arch == "gpt2" else "cpu")
    config = _config_from_args(args)
    if args.arch and args.arch != config.arch:
        raise PyccError(f"--preset {args.preset} is a {config.arch} preset; with --arch {args.arch} use "
                        + ("gpt2-small, gpt2-cpu or gpt2-tiny" if args.arch == "gpt2" else "cpu, paper or tiny"))
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
    result = evaluate(args.model, args.data, max_chars=args.max_chars, keystrokes=args.keystrokes,
                      context=args.context)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value:.4f}" if isinstance(value, float) else f"{key:>20}: {value}")
    return 0


# ---------------------------------------------------------------- serving ----
# (complete, generate, serve)

def _default_model_dir() -> Path:
    """The model served when no --model is given: data/models/current, else trained-models/default."""
    from pycodecomplete.paths import resolve_default_model

    return resolve_default_model()


def _engine_settings_from_args(args) -> dict:
    settings = {}
    for flag in ("context", "window", "beam_width", "lookahead", "runtime"):
        if getattr(args, flag, None) is not None:
            settings[flag] = getattr(args, flag)
    return settings


def _add_engine_flags(parser, with_model_help: str) -> None:
    parser.add_argument("--model", type=Path, default=None, metavar="DIR", help=with_model_help)
    parser.add_argument("--context", choices=("document", "window"), default=None,
                        help="document: carry the model state over the whole text (default); "
                             "window: read only the last --window characters")
    parser.add_argument("--window", type=int, default=None, metavar="N",
                        help="characters of context in window mode (at least 100; default 100)")
    parser.add_argument("--beam-width", type=int, default=None, metavar="N",
                        help="beams kept per step of the search (default 5)")
    parser.add_argument("--lookahead", type=int, default=None, metavar="N",
                        help="most model steps one completion may take (default: from the model's size)")
    parser.add_argument("--runtime", choices=("onnx", "numpy"), default=None,
                        help="where the char-LSTM's steps run: onnx (ONNX Runtime, default: several times "
                             "faster for beams) or numpy; they agree within 1e-5")


def _add_serving(sub) -> None:
    model_help = "model directory (default: data/models/current if present, else trained-models/default)"
    p = sub.add_parser("complete", help="print completions for the code before the cursor",
                       description="Print up to N suggestions to continue TEXT (the code before the cursor).")
    p.add_argument("text", metavar="TEXT", help="code before the cursor, or - to read it from stdin")
    p.add_argument("--n", type=int, default=5, help="how many suggestions (1..10, default 5)")
    p.add_argument("--max-chars", type=int, default=None, metavar="N",
                   help="longest suggestion in characters (1..200, default 40)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer instead of a table")
    _add_engine_flags(p, model_help)
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("generate", help="sample a continuation of a prompt",
                       description="Sample a continuation of --prompt, one character at a time. Without "
                                   "--prompt, read prompts interactively (escapes \\n and \\t are decoded; "
                                   "an empty line or end of input quits).")
    p.add_argument("--model", type=Path, default=None, metavar="DIR", help=model_help)
    p.add_argument("--prompt", default=None, help="text to continue (default: ask interactively)")
    p.add_argument("--chars", type=int, default=300, metavar="N", help="characters to generate (default 300)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="sampling temperature; 0 picks the most likely character (default 0.8)")
    p.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same text")
    # Sampling filters and beam search, for both families (engine/generation.py).
    p.add_argument("--max-length", type=int, default=None, metavar="N",
                   help="most model steps: tokens for a GPT-2 model, characters for an LSTM (default: --chars)")
    p.add_argument("--top-k", type=int, default=0, metavar="K",
                   help="sample among the K most likely tokens only (default 0: all)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="nucleus sampling: among the most likely tokens holding probability P (default 1: all)")
    p.add_argument("--beams", type=int, default=1, metavar="N",
                   help="beam search with N beams instead of sampling; deterministic (GPyT used 10)")
    p.add_argument("--no-repeat-ngram", type=int, default=None, metavar="N",
                   help="never produce the same N tokens twice (default: 5 with --beams, as GPyT; else off)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("serve", help="serve the editor and the JSON API under gunicorn",
                       description="Serve the browser editor (/) and the JSON API (/api/...) with gunicorn. "
                                   "The model is loaded once, before the workers fork.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port to bind (default 5000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1; each keeps its own per-document cache)")
    p.add_argument("--threads", type=int, default=4, metavar="N", help="threads per worker (default 4)")
    p.add_argument("--model-threads", "--blas-threads", dest="model_threads", type=int, default=None,
                   metavar="N", help="threads each worker gives the model's matrix products, in ONNX Runtime and "
                                     "BLAS (default: the machine's cores divided among the workers)")
    _add_engine_flags(p, model_help)
    p.set_defaults(func=cmd_serve)


def _load_engine(args):
    from pycodecomplete.engine import CompletionEngine

    return CompletionEngine.from_model_dir(args.model or _default_model_dir(), _engine_settings_from_args(args))


def cmd_complete(args) -> int:
    import time

    if not 1 <= args.n <= 10:
        raise PyccError("--n must be from 1 to 10")
    if args.max_chars is not None and not 1 <= args.max_chars <= 200:
        raise PyccError("--max-chars must be from 1 to 200")
    text = sys.stdin.read() if args.text == "-" else args.text
    engine = _load_engine(args)
    started = time.perf_counter()
    suggestions = engine.complete(text, n=args.n, max_chars=args.max_chars)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if args.json:
        print(json.dumps({"suggestions": [s.to_json() for s in suggestions], "model": engine.name,
                          "elapsed_ms": round(elapsed_ms, 3)}))
        return 0
    if not suggestions:
        print("(no suggestions)", file=sys.stderr)
    for s in suggestions:
        print(f"{s.score:10.4g}  {json.dumps(s.text, ensure_ascii=False)}")
    return 0


def cmd_generate(args) -> int:
    if args.chars < 1:
        raise PyccError("--chars must be at least 1")
    if args.temperature < 0:
        raise PyccError("--temperature cannot be negative")
    from pycodecomplete.engine.generation import GenerationOptions

    no_repeat = args.no_repeat_ngram if args.no_repeat_ngram is not None else (5 if args.beams > 1 else 0)
    extra = dict(max_length=args.max_length, top_k=args.top_k, top_p=args.top_p, beams=args.beams,
                 no_repeat_ngram=no_repeat)
    try:
        GenerationOptions(chars=args.chars, temperature=args.temperature, **extra).validate()
    except PyccError as exc:
        raise PyccError(str(exc).replace("generation: ", "--").replace("_", "-")) from None
    engine = _load_engine(args)

    def continue_prompt(prompt: str) -> None:
        for char in engine.generate(prompt, chars=args.chars, temperature=args.temperature, seed=args.seed,
                                    **extra):
            sys.stdout.write(char)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()

    if args.prompt is not None:
        continue_prompt(args.prompt)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"model {engine.name}; empty line or Ctrl-D quits", file=sys.stderr)
    while True:
        try:
            line = input(">>> " if interactive else "")
        except EOFError:
            return 0
        if not line:
            return 0
        prompt = line.replace("\\n", "\n").replace("\\t", "\t")
        sys.stdout.write(prompt)
        continue_prompt(prompt)


def cmd_serve(args) -> int:
    if args.model_threads is None:  # share the cores: workers fighting over them is the worst latency
        args.model_threads = max(1, (os.cpu_count() or 1) // max(1, args.workers))
    for flag in ("workers", "threads", "model_threads"):
        if getattr(args, flag) < 1:
            raise PyccError(f"--{flag.replace('_', '-')} must be at least 1")
    if not 0 <= args.port <= 65535:
        raise PyccError("--port must be from 0 to 65535")
    # BLAS reads its thread count when numpy loads, so it is set in the environment (and
    # the process restarted if numpy came in too early); ONNX Runtime takes it per session.
    wanted = str(args.model_threads)
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if any(os.environ.get(name) != wanted for name in names):
        for name in names:
            os.environ[name] = wanted
        if "numpy" in sys.modules:  # loaded too early (by another command's parser): start over
            os.execv(sys.executable, sys.orig_argv)
    from gunicorn.app.base import BaseApplication

    from webapp import create_app

    overrides = {"DEBUG": False, "TESTING": False}
    if args.model is not None:
        overrides["MODEL_DIR"] = str(args.model)
    overrides["ENGINE_SETTINGS"] = {**_engine_settings_from_args(args), "threads": args.model_threads}
    app = create_app(overrides)  # load the model now: a bad directory fails here, before binding
    app.debug = False

    class Server(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"{args.host}:{args.port}",
                "workers": args.workers,
                "worker_class": "gthread",
                "threads": args.threads,
                "preload_app": True,
                "proc_name": "pycc-serve",
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "info",
                "timeout": 60,
                "graceful_timeout": 10,
                "post_worker_init": warm_worker,
            }
            if "control_socket_disable" in self.cfg.settings:  # gunicorn >= 25.1: no gunicornc socket
                options["control_socket_disable"] = True
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return app

    def warm_worker(worker) -> None:
        # After the fork: build the runtime's session in this worker before its first request.
        warm = getattr(app.extensions["pycodecomplete"], "warm", None)
        if warm is not None:
            warm()

    log.info("serving %s on http://%s:%d/ (%d worker(s) x %d thread(s))",
             app.extensions["pycodecomplete"].name, args.host, args.port, args.workers, args.threads)
    Server().run()
    return 0


# ---------------------------------------------------------------- scraping ---
# (scrape, clone, retrain)

def _add_scraping(sub) -> None:
    from pycodecomplete.config import PRESETS

    def db_flags(p):
        p.add_argument("--data-dir", type=Path, default=None, metavar="DIR",
                       help="the data directory (default: <checkout>/data); the default database, "
                            "clones and models live there")
        p.add_argument("--db", metavar="URL", default=None,
                       help="database URL: sqlite:///PATH (default: an SQLite file <data-dir>/pycc.sqlite) or "
                            "mysql+pymysql://USER:PASSWORD@HOST/DB for MySQL, MariaDB or Amazon Aurora MySQL")
        p.add_argument("--table-prefix", default="", metavar="PREFIX",
                       help="prefix for the table names, to keep several crawls in one database (default: none)")

    def github_flags(p):
        p.add_argument("--token-file", type=Path, metavar="PATH",
                       help="read the GitHub token from this file (default: the GITHUB_TOKEN environment "
                            "variable); the token is never printed, logged or stored")
        p.add_argument("--api-url", default=None, metavar="URL",
                       help="GraphQL endpoint (default: https://api.github.com/graphql; point it at "
                            "GitHub Enterprise or any compatible server)")
        p.add_argument("--query", default="language:Python",
                       help="GitHub search query, without created: (default: %(default)s)")
        p.add_argument("--min-stars", type=int, default=1000, metavar="N",
                       help="keep repositories with more than N stars, i.e. adds stars:>N (default: %(default)s; "
                            "ignored when --query has its own stars:)")
        p.add_argument("--created-from", metavar="DATE", default="2007-10-01",
                       help="first creation date searched, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ, UTC "
                            "(default: %(default)s)")
        p.add_argument("--created-to", metavar="DATE", default=None,
                       help="last creation date searched, inclusive (default: today, UTC)")
        p.add_argument("--http-timeout", type=float, default=30.0, metavar="S",
                       help="seconds to wait for each API answer (default: %(default)s)")
        p.add_argument("--max-retries", type=int, default=6, metavar="N",
                       help="retries of a failed API call (5xx, timeout, bad answer) with exponential "
                            "back-off, before giving up (default: %(default)s)")

    def clone_flags(p, timeout_flag="--timeout"):
        p.add_argument("--workers", type=int, default=4, metavar="N",
                       help="repositories cloned in parallel (default: %(default)s)")
        p.add_argument(timeout_flag, dest="clone_timeout", type=float, default=600.0, metavar="S",
                       help="seconds per repository before git is killed (default: %(default)s)")
        p.add_argument("--max-file-kb", type=float, default=1000.0, metavar="KB",
                       help=".py files larger than this are not kept (default: %(default)s)")
        p.add_argument("--max-repo-mb", type=float, default=500.0, metavar="MB",
                       help="repositories larger than this on GitHub (disk usage) are skipped "
                            "(default: %(default)s)")

    progress = dict(action=argparse.BooleanOptionalAction, default=True,
                    help="show progress bars on stderr (default: on)")

    p = sub.add_parser(
        "scrape", help="search GitHub (GraphQL API v4) into the repositories table",
        description="Find every repository a GitHub search matches and upsert it into the `repositories` "
                    "table. The search is cut into created: ranges (halved below a day where needed) so "
                    "GitHub's 1,000-result cap never hides a repository. Progress is kept per range with its "
                    "cursor: an interrupted scrape resumes where it stopped when run again. Needs a token "
                    "(GITHUB_TOKEN or --token-file).")
    db_flags(p)
    github_flags(p)
    p.add_argument("--limit", type=int, metavar="N",
                   help="stop after N repositories (the rest stays queued for the next run)")
    p.add_argument("--fresh", action="store_true",
                   help="forget the progress of an earlier scrape of the same query and dates, and start over")
    p.add_argument("--progress", **progress)
    p.set_defaults(func=cmd_scrape)

    p = sub.add_parser(
        "clone", help="shallow-clone the table's repositories, keeping only .py files",
        description="Clone the repositories of the table that are not cloned yet (depth 1, one branch, "
                    "GIT_TERMINAL_PROMPT=0, a timeout that kills git), keep only regular .py text files "
                    "(no .git, no symlinks, nothing over the size cap) in <data-dir>/clones/OWNER/NAME, and "
                    "record status, commit, counts and errors on each row. A clone appears in one rename only "
                    "once complete.")
    db_flags(p)
    p.add_argument("--clones-dir", type=Path, metavar="DIR",
                   help="where clones go (default: <data-dir>/clones)")
    clone_flags(p)
    p.add_argument("--refresh", action="store_true", help="clone again the repositories already cloned")
    p.add_argument("--limit", type=int, metavar="N", help="clone at most N repositories this run")
    p.add_argument("--progress", **progress)
    p.set_defaults(func=cmd_clone)

    p = sub.add_parser(
        "retrain", help="the whole pipeline: scrape, clone, train, evaluate, promote if better",
        description="Scrape (only with a GitHub token), clone, train a new model in "
                    "<data-dir>/models/RUN-ID, evaluate it and the current default model on the same "
                    "validation files, and make it the default (<data-dir>/models/current) only if its bits "
                    "per character are lower; the replaced model stays as <data-dir>/models/previous. "
                    "Without a token the corpus is the standard library plus any --corpus directories. "
                    "Every step is idempotent: running the command again continues an unfinished run.")
    db_flags(p)
    github_flags(p)
    p.add_argument("--limit", type=int, metavar="N", help="scrape at most N repositories this run")
    clone_flags(p, timeout_flag="--clone-timeout")
    p.add_argument("--corpus", action="append", type=Path, default=[], metavar="DIR",
                   help="another directory of .py files to train on (repeatable)")
    p.add_argument("--stdlib", action=argparse.BooleanOptionalAction, default=None,
                   help="include the standard library in the corpus (default: only without a token)")
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS),
                   help="model and training preset for the new model (default: %(default)s)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    p.add_argument("--max-steps", type=int, metavar="N", help="training budget in steps")
    p.add_argument("--minutes", type=float, metavar="M", help="training budget in minutes")
    p.add_argument("--epochs", type=int, metavar="N", help="training budget in epochs")
    p.add_argument("--eval-chars", type=int, default=200_000, metavar="N",
                   help="validation characters scored for each model (default: %(default)s)")
    p.add_argument("--until", choices=("scrape", "clone", "train", "evaluate", "promote"),
                   help="stop after this step; the next run continues from there")
    p.add_argument("--new-run", action="store_true", help="abandon an unfinished run and start a new one")
    p.add_argument("--progress", **progress)
    p.set_defaults(func=cmd_retrain)


def _data_dir(args) -> Path:
    from pycodecomplete.paths import default_data_dir

    return Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()


def _db_url(args) -> str:
    from pycodecomplete.paths import default_db_url

    return args.db or default_db_url(_data_dir(args))


def _github_token(args) -> str | None:
    """--token-file, else GITHUB_TOKEN; the value is handed down, never shown."""
    import os

    if args.token_file is not None:
        try:
            token = Path(args.token_file).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or exc.__class__.__name__
            raise PyccError(f"cannot read --token-file {args.token_file}: {reason}") from None
        if not token or any(c.isspace() for c in token):
            raise PyccError(f"--token-file {args.token_file} does not hold a token (one line, no spaces)")
        return token
    return os.environ.get("GITHUB_TOKEN", "").strip() or None


def _parse_when(value: str, flag: str, end: bool = False):
    """YYYY-MM-DD (a whole day: its first or last second) or an ISO datetime, as naive UTC."""
    import datetime as dt

    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.datetime.strptime(text, "%Y-%m-%d")
            return day + dt.timedelta(days=1, seconds=-1) if end else day
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PyccError(f"{flag} {value!r} is not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _scrape_request_fields(args) -> dict:
    import datetime as dt

    created_from = _parse_when(args.created_from, "--created-from")
    if args.created_to:
        created_to = _parse_when(args.created_to, "--created-to", end=True)
    else:  # the end of today (UTC): a stable key, so a resumed scrape finds its progress
        today = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).date()
        created_to = dt.datetime.combine(today, dt.time(23, 59, 59))
    if created_from > created_to:
        raise PyccError(f"--created-from {args.created_from} is after --created-to {args.created_to or 'today'}")
    if args.limit is not None and args.limit < 1:
        raise PyccError("--limit must be at least 1")
    return dict(query=args.query, min_stars=args.min_stars, created_from=created_from,
                created_to=created_to, limit=args.limit, fresh=getattr(args, "fresh", False))


def _client_kwargs(args) -> dict:
    if args.http_timeout <= 0:
        raise PyccError("--http-timeout must be positive")
    if args.max_retries < 0:
        raise PyccError("--max-retries must be at least 0")
    return dict(timeout=args.http_timeout, max_retries=args.max_retries)


def _clone_fields(args) -> dict:
    if args.workers < 1:
        raise PyccError("--workers must be at least 1")
    if args.clone_timeout <= 0:
        raise PyccError("the clone timeout must be positive")
    if args.max_file_kb <= 0 or args.max_repo_mb <= 0:
        raise PyccError("--max-file-kb and --max-repo-mb must be positive")
    return dict(workers=args.workers, timeout_s=args.clone_timeout,
                max_file_bytes=int(args.max_file_kb * 1000), max_repo_mb=args.max_repo_mb)


def cmd_scrape(args) -> int:
    from pycodecomplete.scraping.github import DEFAULT_API_URL, GitHubClient
    from pycodecomplete.scraping.scrape import Scraper, ScrapeRequest
    from pycodecomplete.scraping.store import RepositoryStore

    token = _github_token(args)
    if not token:
        raise PyccError("a GitHub token is needed: set GITHUB_TOKEN or pass --token-file")
    request = ScrapeRequest(**_scrape_request_fields(args))
    request.base_query()  # a bad --query fails before any connection
    store = RepositoryStore.open(_db_url(args), args.table_prefix)
    client = GitHubClient(token, args.api_url or DEFAULT_API_URL, **_client_kwargs(args))
    try:
        summary = Scraper(client, store, progress=args.progress).run(request)
    finally:
        client.close()
        store.close()
    summary["database"] = store.url
    log.info("scrape: %d repositories seen (%d new) with %d API calls in %.1fs; %d in the table; %s",
             summary["repositories_seen"], summary["new_repositories"], summary["api_calls"],
             summary["seconds"], summary["repositories_in_table"],
             "complete" if summary["complete"] else f"{summary['slices_left']} slices left (run again to continue)")
    _print_json(summary)
    return 0


def cmd_clone(args) -> int:
    from pycodecomplete.paths import clones_dir
    from pycodecomplete.scraping.clone import CloneOptions, clone_all
    from pycodecomplete.scraping.store import RepositoryStore

    if args.limit is not None and args.limit < 1:
        raise PyccError("--limit must be at least 1")
    fields = _clone_fields(args)
    target = Path(args.clones_dir).expanduser().resolve() if args.clones_dir else clones_dir(_data_dir(args))
    store = RepositoryStore.open(_db_url(args), args.table_prefix)
    try:
        summary = clone_all(store, CloneOptions(clones_dir=target, refresh=args.refresh, limit=args.limit,
                                                **fields), progress=args.progress)
    finally:
        store.close()
    log.info("clone: %d cloned, %d failed, %d skipped; %d .py files (%.1f MB) in %s, %.1fs",
             summary["cloned"], summary["failed"], summary["skipped"], summary["py_files"],
             summary["py_bytes"] / 1e6, summary["clones_dir"], summary["seconds"])
    _print_json(summary)
    return 0


def cmd_retrain(args) -> int:
    from pycodecomplete.config import preset
    from pycodecomplete.retrain import RetrainOptions, retrain

    for flag in ("max_steps", "epochs", "eval_chars"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            raise PyccError(f"--{flag.replace('_', '-')} must be at least 1")
    if args.minutes is not None and args.minutes <= 0:
        raise PyccError("--minutes must be positive")
    config = preset(args.preset).with_overrides(args.set or [])
    token = _github_token(args)
    opts = RetrainOptions(
        data_dir=_data_dir(args), config=config, db_url=args.db, table_prefix=args.table_prefix,
        token=token, api_url=args.api_url,
        scrape=_scrape_request_fields(args) if token else {}, clone=_clone_fields(args),
        corpus_dirs=list(args.corpus), include_stdlib=args.stdlib, max_steps=args.max_steps,
        minutes=args.minutes, epochs=args.epochs, eval_chars=args.eval_chars, until=args.until,
        new_run=args.new_run, progress=args.progress,
        client_kwargs=_client_kwargs(args) if token else {})
    summary = retrain(opts)
    _print_json(summary)
    return 0


# ---------------------------------------------------------------- gpt --------
# (tokenizer)

def _add_gpt(sub) -> None:
    from pycodecomplete.ml.tokenizer import DEFAULT_VOCAB_SIZE, MIN_FREQUENCY

    def corpus_flags(p):
        p.add_argument("dirs", nargs="*", metavar="DIR", help="directories of .py files (default: the stdlib)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="corpus config override (val_fraction, max_file_bytes, max_line_chars)")

    p = sub.add_parser("tokenizer", help="train or try the byte-level BPE tokenizer of the GPT-2 family",
                       description="The GPT-2 family's byte-level BPE tokenizer (special tokens <s> <pad> </s> "
                                   "<unk> <mask> with ids 0-4). `pycc train --arch gpt2` trains its own on the "
                                   "training split and saves it in the model directory; these commands are for "
                                   "choosing a vocabulary size and for looking at tokens.")
    actions = p.add_subparsers(dest="tokenizer_command", metavar="ACTION")
    p.set_defaults(func=lambda args, parser=p: _missing_action(parser))

    t = actions.add_parser("train", help="train a tokenizer on a corpus and report its compression",
                           description="Train on the training split of a corpus (default: the stdlib), check "
                                       "that every file of the corpus decodes back exactly, and report "
                                       "characters per token on both splits.")
    corpus_flags(t)
    t.add_argument("--out", type=Path, metavar="PATH",
                   help="write the tokenizer here (a .json file, or a directory to hold tokenizer.json)")
    t.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, metavar="N",
                   help="vocabulary size, special tokens and the 256 bytes included (default %(default)s; "
                        "see pycodecomplete/ml/tokenizer.py for why)")
    t.add_argument("--min-frequency", type=int, default=MIN_FREQUENCY, metavar="N",
                   help="a merge must occur at least N times (default %(default)s, as GPyT)")
    t.add_argument("--strip-comments", action="store_true", help="train on the code without its comments")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=cmd_tokenizer_train)

    e = actions.add_parser("encode", help="show how a text splits into tokens",
                           description="Encode TEXT and print each token's id and text (GPyT's tokenizer -e).")
    e.add_argument("text", metavar="TEXT", help="the text, or - to read it from stdin")
    e.add_argument("--tokenizer", required=True, type=Path, metavar="PATH",
                   help="a tokenizer .json file or a GPT-2 model directory")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_tokenizer_encode)

    p = sub.add_parser("preprocess", help="write a cleaned copy of a corpus (comments stripped)",
                       description="Read a corpus like training does (default: the stdlib) and write each file "
                                   "to --out at the same relative path (so the train/validation split stays "
                                   "the same), with its comments removed (tokenize-based: a '#' in a string "
                                   "is never touched, lines are never joined, the code's AST is unchanged) "
                                   "and, with --strip-docstrings, its docstrings. Then train on it with "
                                   "`pycc train --corpus OUT`. Long files need no splitting here: training "
                                   "and evaluation cut them at line starts to fit the model's context.")
    corpus_flags(p)
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="where to write the cleaned files")
    p.add_argument("--strip-comments", action=argparse.BooleanOptionalAction, default=True,
                   help="remove comments (default: on)")
    p.add_argument("--strip-docstrings", action="store_true", help="remove docstrings too")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_preprocess)


def _missing_action(parser) -> int:
    parser.print_help()
    return 2


def _gpt_corpus(args):
    from pycodecomplete.config import Config
    from pycodecomplete.ml.corpus import load_corpus

    config = Config().with_overrides(args.set)
    return load_corpus(args.dirs or None, val_fraction=config.val_fraction, max_file_bytes=config.max_file_bytes,
                       max_line_chars=config.max_line_chars, progress=not args.json)


def cmd_tokenizer_train(args) -> int:
    from pycodecomplete.artifact import write_bytes_atomic
    from pycodecomplete.bpe import SPECIAL_TOKENS
    from pycodecomplete.ml.preprocess import strip_comments
    from pycodecomplete.ml.tokenizer import compression, round_trip_failures, train_tokenizer

    corpus = _gpt_corpus(args)
    clean = strip_comments if args.strip_comments else (lambda text: text)
    texts = {name: [clean(f.text) for f in corpus.split(name)] for name in ("train", "val")}
    tokenizer = train_tokenizer(texts["train"], args.vocab_size, args.min_frequency, progress=not args.json)
    failures = round_trip_failures(tokenizer, [(f.path, f.text) for f in corpus.files])
    result = {"vocab_size": tokenizer.vocab_size, "asked_vocab_size": args.vocab_size,
              "min_frequency": args.min_frequency, "strip_comments": args.strip_comments,
              "special_tokens": {token: i for i, token in enumerate(SPECIAL_TOKENS)},
              "train": compression(tokenizer, texts["train"]), "val": compression(tokenizer, texts["val"]),
              "round_trip": {"files": len(corpus.files), "failed": failures[:20]}}
    if args.out is not None:
        out = Path(args.out)
        target = out / "tokenizer.json" if out.is_dir() or not out.suffix else out
        write_bytes_atomic(target, tokenizer.to_str().encode())
        result["out"] = str(target)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"vocabulary:   {tokenizer.vocab_size:,} tokens (asked {args.vocab_size:,}, min frequency "
              f"{args.min_frequency})")
        for name in ("train", "val"):
            c = result[name]
            print(f"{name:>5} split:  {c['chars']:,} chars -> {c['tokens']:,} tokens "
                  f"({c['chars_per_token']} chars/token)")
        print(f"round trip:   {len(corpus.files) - len(failures):,}/{len(corpus.files):,} files decode back exactly")
        if "out" in result:
            print(f"written to:   {result['out']}")
    if failures:
        raise PyccError(f"{len(failures)} file(s) do not round-trip, e.g. {failures[0]}")
    return 0


def cmd_tokenizer_encode(args) -> int:
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.bpe import BPETokenizer

    path = Path(args.tokenizer)
    tokenizer = BPETokenizer.from_artifact(ModelArtifact.load(path)) if path.is_dir() else BPETokenizer.from_file(path)
    text = sys.stdin.read() if args.text == "-" else args.text
    ids = tokenizer.encode(text).tolist()
    table = tokenizer.token_bytes()
    pieces = [table[i].decode("utf-8", errors="backslashreplace") for i in ids]
    if args.json:
        print(json.dumps({"ids": ids, "tokens": pieces, "chars": len(text), "count": len(ids)}))
        return 0
    for i, piece in zip(ids, pieces):
        print(f"{i:>7}  {json.dumps(piece, ensure_ascii=False)}")
    print(f"{len(text)} characters, {len(ids)} tokens", file=sys.stderr)
    return 0


def cmd_preprocess(args) -> int:
    from pycodecomplete.artifact import write_bytes_atomic
    from pycodecomplete.ml.preprocess import parses, strip_comments, strip_docstrings

    corpus = _gpt_corpus(args)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise PyccError(f"{out} is not empty; choose a new --out")
    chars_in = chars_out = unparsed = 0
    for f in corpus.files:
        text = f.text
        if not parses(text):
            unparsed += 1  # comments still go (tokenize permitting); docstrings need the AST
        if args.strip_comments:
            text = strip_comments(text, docstrings=not args.strip_docstrings)
        elif args.strip_docstrings:
            text = strip_docstrings(text)
        chars_in += len(f.text)
        chars_out += len(text)
        write_bytes_atomic(out / f.path, text.encode("utf-8"))
    result = {"files": len(corpus.files), "chars_in": chars_in, "chars_out": chars_out,
              "removed_share": round(1 - chars_out / chars_in, 4) if chars_in else 0.0,
              "not_parsing": unparsed, "out": str(out)}
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(f"{result['files']:,} files written to {out}: {chars_in:,} -> {chars_out:,} characters "
              f"({100 * result['removed_share']:.1f}% removed)")
    return 0


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
