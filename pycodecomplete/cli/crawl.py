"""Crawling commands: `pycc scrape`, `pycc clone`, and `pycc retrain` (the whole pipeline)."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from pycodecomplete.cli.common import INSTALLED_HELP, print_json, read_secret
from pycodecomplete.config import PRESETS
from pycodecomplete.errors import PyccError

log = logging.getLogger("pycodecomplete")

# Library fields whose flag is not simply --field-name.
_CLIENT_FLAGS = {"timeout": "--http-timeout"}
_CLONE_FIELDS = {"timeout_s": "--timeout", "max_file_bytes": "--max-file-kb"}
SCRAPE_FLAGS = dict(_CLIENT_FLAGS)
CLONE_FLAGS = dict(_CLONE_FIELDS)
RETRAIN_FLAGS = {**_CLIENT_FLAGS, **_CLONE_FIELDS, "timeout_s": "--clone-timeout"}


def register(sub) -> None:
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
    p.set_defaults(func=cmd_scrape, flag_names=SCRAPE_FLAGS)

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
    p.set_defaults(func=cmd_clone, flag_names=CLONE_FLAGS)

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
                   help="include the standard library in the corpus (default: only without a token or --init-from)")
    p.add_argument("--installed", action="store_true", help=INSTALLED_HELP)
    p.add_argument("--init-from", metavar="DIR|current",
                   help="adapt this model (current: the one served now) to the corpus instead of training "
                        "from scratch: its architecture, tokenizer and weights, a fresh optimizer, and "
                        "--set overrides (--preset is then ignored); promoted only if it beats that model on "
                        "the corpus's validation files. E.g. --corpus ~/myproject --init-from current "
                        "--set val_fraction=0.2 --minutes 10")
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
    p.set_defaults(func=cmd_retrain, flag_names=RETRAIN_FLAGS)


def _data_dir(args) -> Path:
    from pycodecomplete.paths import default_data_dir

    return Path(args.data_dir).expanduser().resolve() if args.data_dir else default_data_dir()


def _db_url(args) -> str:
    from pycodecomplete.paths import default_db_url

    return args.db or default_db_url(_data_dir(args))


def _github_token(args) -> str | None:
    """--token-file, else GITHUB_TOKEN; the value is handed down, never shown."""
    if args.token_file is not None:
        return read_secret(args.token_file, "--token-file")
    return os.environ.get("GITHUB_TOKEN", "").strip() or None


def _scrape_request(args):
    from pycodecomplete.scraping.scrape import ScrapeRequest, end_of_today, parse_when

    created_to = parse_when(args.created_to, "created_to", end=True) if args.created_to else end_of_today()
    return ScrapeRequest(query=args.query, min_stars=args.min_stars,
                         created_from=parse_when(args.created_from, "created_from"), created_to=created_to,
                         limit=args.limit, fresh=getattr(args, "fresh", False)).validate()


def _client_kwargs(args) -> dict:
    return dict(timeout=args.http_timeout, max_retries=args.max_retries)


def _clone_fields(args) -> dict:
    return dict(workers=args.workers, timeout_s=args.clone_timeout,
                max_file_bytes=int(args.max_file_kb * 1000), max_repo_mb=args.max_repo_mb)


def cmd_scrape(args) -> int:
    from pycodecomplete.scraping.github import DEFAULT_API_URL, GitHubClient
    from pycodecomplete.scraping.scrape import Scraper
    from pycodecomplete.scraping.store import RepositoryStore

    token = _github_token(args)
    if not token:
        raise PyccError("a GitHub token is needed: set GITHUB_TOKEN or pass --token-file")
    request = _scrape_request(args)  # a bad --query or date fails before any connection
    client = GitHubClient(token, args.api_url or DEFAULT_API_URL, **_client_kwargs(args))
    store = RepositoryStore.open(_db_url(args), args.table_prefix)
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
    print_json(summary)
    return 0


def cmd_clone(args) -> int:
    from pycodecomplete.paths import clones_dir
    from pycodecomplete.scraping.clone import CloneOptions, clone_all
    from pycodecomplete.scraping.store import RepositoryStore

    target = Path(args.clones_dir).expanduser().resolve() if args.clones_dir else clones_dir(_data_dir(args))
    options = CloneOptions(clones_dir=target, refresh=args.refresh, limit=args.limit, **_clone_fields(args))
    options.validate()
    store = RepositoryStore.open(_db_url(args), args.table_prefix)
    try:
        summary = clone_all(store, options, progress=args.progress)
    finally:
        store.close()
    log.info("clone: %d cloned, %d failed, %d skipped; %d .py files (%.1f MB) in %s, %.1fs",
             summary["cloned"], summary["failed"], summary["skipped"], summary["py_files"],
             summary["py_bytes"] / 1e6, summary["clones_dir"], summary["seconds"])
    print_json(summary)
    return 0


def _parent_model(args) -> Path | None:
    """--init-from: a model directory, or `current` for the model served now."""
    if args.init_from is None:
        return None
    if args.init_from == "current":
        from pycodecomplete.paths import resolve_default_model

        return resolve_default_model(_data_dir(args)).resolve()
    return Path(args.init_from).expanduser().resolve()


def cmd_retrain(args) -> int:
    from dataclasses import asdict

    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.config import preset
    from pycodecomplete.ml.budget import Budget
    from pycodecomplete.retrain import RetrainOptions, retrain

    token = _github_token(args)
    parent = _parent_model(args)
    config = ModelArtifact.load(parent).config if parent else preset(args.preset)
    opts = RetrainOptions(
        data_dir=_data_dir(args), config=config.with_overrides(args.set or []), db_url=args.db,
        table_prefix=args.table_prefix, token=token, api_url=args.api_url,
        scrape={k: v for k, v in asdict(_scrape_request(args)).items()} if token else {},
        clone=_clone_fields(args), corpus_dirs=list(args.corpus), include_stdlib=args.stdlib,
        include_installed=args.installed, init_from=parent,
        budget=Budget(max_steps=args.max_steps, epochs=args.epochs, minutes=args.minutes),
        eval_chars=args.eval_chars, until=args.until, new_run=args.new_run, progress=args.progress,
        client_kwargs=_client_kwargs(args) if token else {})
    print_json(retrain(opts.validate()))
    return 0
