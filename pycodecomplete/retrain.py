"""`pycc retrain`: scrape, clone, train, evaluate, and promote only a better model.

    scrape    (only with a GitHub token) the search into the repositories table
    clone     (only with a token) the table's repositories, `.py` files only
    train     a new model in <data-dir>/models/<run-id>/
    evaluate  the new model and the current default on the same validation files
    promote   the new model becomes <data-dir>/models/current only if its bits per
              character are lower; the one it replaces stays as .../previous

Without a token the corpus is the embedded default (the standard library) plus
any directories given. With a token it is the clones plus any directories given.

Every step is idempotent and the run is resumable: the run's state is a JSON file
(`<data-dir>/retrain/state.json`) that records its id and the steps finished.
Running the command again continues an unfinished run (the scrape resumes from its
slice cursors, the clone skips what is cloned, training resumes from its
checkpoint, finished steps are not redone); after a finished run it starts a new one.

This module ties the two sides together, so it is the one place (with the CLI)
that imports both the scraping package and the ML package.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from pycodecomplete.artifact import MANIFEST, read_json, write_json_atomic
from pycodecomplete.config import Config
from pycodecomplete.corpus.sources import INSTALLED, STDLIB
from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.ml.budget import Budget
from pycodecomplete.paths import (CURRENT_LINK, PREVIOUS_LINK, clones_dir, default_db_url, models_dir,
                                  resolve_default_model)

log = logging.getLogger(__name__)

STEPS = ("scrape", "clone", "train", "evaluate", "promote")



@dataclass
class RetrainOptions:
    data_dir: Path
    config: Config
    db_url: str | None = None  # default: the SQLite file in data_dir
    table_prefix: str = ""
    token: str | None = None  # no token: no scrape, no clone
    api_url: str | None = None
    scrape: dict = field(default_factory=dict)  # ScrapeRequest fields: query, min_stars, created_from, ...
    clone: dict = field(default_factory=dict)  # CloneOptions fields: workers, timeout_s, max_repo_mb, ...
    corpus_dirs: list[Path] = field(default_factory=list)
    include_stdlib: bool | None = None  # None: yes without a token or a parent model, else no
    include_installed: bool = False  # also the permissively licensed installed packages
    # Adapt this model instead of training from scratch (its architecture, tokenizer and weights,
    # a fresh optimizer); it is then also the model the new one must beat.
    init_from: Path | None = None
    budget: Budget = field(default_factory=Budget)  # training budget of the new model
    eval_chars: int | None = 200_000  # validation characters scored per model (None: all)
    until: str | None = None  # stop after this step; the next run continues
    new_run: bool = False  # abandon an unfinished run and start a new one
    progress: bool = True
    client_kwargs: dict = field(default_factory=dict)  # GitHubClient extras (tests: sleep, clock)


    def validate(self) -> "RetrainOptions":
        """Check every option before any step runs (a bad one fails fast, not an hour in)."""
        from pycodecomplete.scraping.clone import CloneOptions
        from pycodecomplete.scraping.scrape import ScrapeRequest

        if self.until is not None and self.until not in STEPS:
            raise OptionError("until", f"must be one of {', '.join(STEPS)}")
        if self.eval_chars is not None and self.eval_chars < 1:
            raise OptionError("eval_chars", "must be at least 1")
        self.budget.validate()
        CloneOptions(clones_dir=Path(self.data_dir), **self.clone).validate()
        if self.scrape:
            ScrapeRequest(**self.scrape).validate()
        for given in self.corpus_dirs:
            if not Path(given).is_dir():
                raise PyccError(f"corpus directory {given} does not exist")
        return self


def retrain(opts: RetrainOptions) -> dict:
    opts.validate()
    data_dir = Path(opts.data_dir).resolve()
    state_path = data_dir / "retrain" / "state.json"
    state = _load_state(state_path)
    if state is None or state.get("finished") or opts.new_run:
        run_id = _new_run_id(data_dir)
        state = {"run_id": run_id, "started": _now(), "steps": {}, "finished": False}
        log.info("retrain: starting run %s", run_id)
    else:
        log.info("retrain: continuing run %s (finished steps: %s)", state["run_id"],
                 ", ".join(state["steps"]) or "none")
    run_id = state["run_id"]
    run_dir = data_dir / "retrain" / run_id
    model_dir = models_dir(data_dir) / run_id
    save = lambda: write_json_atomic(state_path, state)  # noqa: E731
    save()

    include_stdlib = opts.include_stdlib if opts.include_stdlib is not None else not (opts.token or opts.init_from)

    for step in STEPS:
        if step in state["steps"] and state["steps"][step].get("status") in ("done", "skipped"):
            log.info("%-8s already done in this run", step)
        else:
            started = time.monotonic()
            if step == "scrape":
                result = _scrape(opts, data_dir)
            elif step == "clone":
                result = _clone(opts, data_dir)
            elif step == "train":
                roots = _corpus_roots(opts, data_dir, include_stdlib)
                result = _train(opts, model_dir, roots)
            elif step == "evaluate":
                result = _evaluate(opts, data_dir, model_dir, run_dir)
            else:
                result = _promote(data_dir, model_dir, state["steps"]["evaluate"])
            result.setdefault("status", "done")
            result["seconds"] = round(time.monotonic() - started, 2)
            state["steps"][step] = result
            save()
            log.info("%-8s %s", step, _describe(step, result))
        if opts.until == step:
            log.info("retrain: stopping after %s as asked; run the command again to continue", step)
            break
    else:
        state["finished"] = True
        state["finished_at"] = _now()
        save()
    return {"run_id": run_id, "model_dir": str(model_dir), "finished": state["finished"],
            "state": str(state_path), "steps": state["steps"],
            "serving": str(resolve_default_model(data_dir))}


# ------------------------------------------------------------------ steps ----

def _scrape(opts: RetrainOptions, data_dir: Path) -> dict:
    if not opts.token:
        return {"status": "skipped", "reason": "no GitHub token"}
    from pycodecomplete.scraping.github import DEFAULT_API_URL, GitHubClient
    from pycodecomplete.scraping.scrape import Scraper, ScrapeRequest
    from pycodecomplete.scraping.store import RepositoryStore

    store = RepositoryStore.open(opts.db_url or default_db_url(data_dir), opts.table_prefix)
    client = GitHubClient(opts.token, opts.api_url or DEFAULT_API_URL, **opts.client_kwargs)
    try:
        return Scraper(client, store, progress=opts.progress).run(ScrapeRequest(**opts.scrape))
    finally:
        client.close()
        store.close()


def _clone(opts: RetrainOptions, data_dir: Path) -> dict:
    if not opts.token:
        return {"status": "skipped", "reason": "no GitHub token, so no scraped repositories to clone"}
    from pycodecomplete.scraping.clone import CloneOptions, clone_all
    from pycodecomplete.scraping.store import RepositoryStore

    store = RepositoryStore.open(opts.db_url or default_db_url(data_dir), opts.table_prefix)
    try:
        return clone_all(store, CloneOptions(clones_dir=clones_dir(data_dir), **opts.clone), progress=opts.progress)
    finally:
        store.close()


def _corpus_roots(opts: RetrainOptions, data_dir: Path, include_stdlib: bool) -> list[str]:
    roots: list[str] = []
    clones = clones_dir(data_dir)
    if opts.token and clones.is_dir() and any(clones.iterdir()):
        roots.append(str(clones))
    roots += [str(Path(d).resolve()) for d in opts.corpus_dirs]
    if include_stdlib:
        roots.append(STDLIB)
    if opts.include_installed:
        roots.append(INSTALLED)
    if not roots:
        raise PyccError("nothing to train on: no repository was cloned, no corpus directory was given and "
                        "the standard library and installed packages are left out")
    return roots


def _train(opts: RetrainOptions, model_dir: Path, roots: list[str]) -> dict:
    from pycodecomplete.ml.trainer import train

    log.info("train    corpus: %s; model: %s", ", ".join(roots), model_dir)
    summary = train(model_dir, roots, opts.config, opts.budget, init_from=opts.init_from)
    corpus = (summary or {}).get("corpus") or {}
    return {"model_dir": str(model_dir), "corpus_roots": roots,
            "files": corpus.get("files"), "chars": corpus.get("chars"),
            "steps": (summary or {}).get("step") or _state_step(model_dir),
            "parameters": (summary or {}).get("parameters")}


def _state_step(model_dir: Path):
    from pycodecomplete.ml.trainer import load_state

    state = load_state(model_dir) or {}
    return state.get("step")


def _validation_dir(model_dir: Path, run_dir: Path) -> tuple[Path, int]:
    """The new model's validation split, written out once, so both models read the same files."""
    target = run_dir / "validation"
    if (target / ".complete").exists():
        return target, sum(1 for p in target.rglob("*.py"))
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.corpus import validation_files

    files = validation_files(ModelArtifact.load(model_dir))
    partial = run_dir / "validation.partial"
    shutil.rmtree(partial, ignore_errors=True)
    for index, source in enumerate(files):
        # One directory per root keeps paths unique; names keep their order for max_chars.
        path = partial / f"{index:06d}" / Path(source.path).name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source.text, encoding="utf-8")
    (partial / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    return target, len(files)


def _evaluate(opts: RetrainOptions, data_dir: Path, model_dir: Path, run_dir: Path) -> dict:
    from pycodecomplete.ml.evaluate import evaluate

    validation, n_files = _validation_dir(model_dir, run_dir)
    new = evaluate(model_dir, [validation], max_chars=opts.eval_chars)
    result = {"validation_dir": str(validation), "validation_files": n_files, "new": _metrics(new),
              "current": None, "current_dir": None}
    # The model to beat: the one it started from when adapting, else the one served now.
    current = Path(opts.init_from) if opts.init_from else resolve_default_model(data_dir)
    if current.resolve() == model_dir.resolve():
        result["current_note"] = "the new model is already the current one"
    elif (current / MANIFEST).exists():
        result["current_dir"] = str(current)
        try:
            result["current"] = _metrics(evaluate(current, [validation], max_chars=opts.eval_chars))
        except PyccError as exc:
            log.warning("cannot evaluate the current model %s: %s", current, exc)
            result["current_note"] = f"unusable: {exc}"
    else:
        result["current_note"] = f"no current model ({current} holds none)"
    return result


def _metrics(m: dict) -> dict:
    return {k: m.get(k) for k in ("bpc", "top1", "top5", "chars", "files")}


def decide_promotion(new: dict, current: dict | None) -> tuple[bool, str]:
    """Promote when there is no usable current model, or when the new one has lower bpc on the same data."""
    if current is None:
        return True, "there is no usable current model"
    if new.get("chars") != current.get("chars") or new.get("files") != current.get("files"):
        return False, (f"the two evaluations did not score the same data ({new.get('chars')} vs "
                       f"{current.get('chars')} characters); keeping the current model")
    if new["bpc"] < current["bpc"]:
        return True, f"bpc {new['bpc']:.4f} beats the current {current['bpc']:.4f}"
    return False, f"bpc {new['bpc']:.4f} does not beat the current {current['bpc']:.4f}"


def _promote(data_dir: Path, model_dir: Path, evaluation: dict) -> dict:
    if evaluation.get("current_note") == "the new model is already the current one":
        return {"promoted": True, "reason": "already current", "current": str(model_dir)}
    promote, reason = decide_promotion(evaluation["new"], evaluation.get("current"))
    models = models_dir(data_dir)
    if not promote:
        return {"promoted": False, "reason": reason, "current": str(resolve_default_model(data_dir)),
                "kept_new_model_in": str(model_dir)}
    previous = evaluation.get("current_dir")
    if previous:
        _point(models / PREVIOUS_LINK, Path(previous))
    _point(models / CURRENT_LINK, model_dir)
    return {"promoted": True, "reason": reason, "current": str(model_dir), "previous": previous}


def _point(link: Path, target: Path) -> None:
    """Make `link` a symlink to `target` in one atomic rename (relative when inside the same directory)."""
    target = Path(target).resolve()
    link.parent.mkdir(parents=True, exist_ok=True)
    value = target.name if target.parent == link.parent.resolve() else str(target)
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(value, tmp)
    os.replace(tmp, link)


# ------------------------------------------------------------------ state ----

def _load_state(path: Path) -> dict | None:
    if not path.exists():
        return None
    state = read_json(path)
    if not isinstance(state, dict) or "run_id" not in state or not isinstance(state.get("steps"), dict):
        raise PyccError(f"{path}: not a retrain state file (delete it to start over)")
    return state


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_run_id(data_dir: Path) -> str:
    base = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    run_id, n = base, 1
    while (models_dir(data_dir) / run_id).exists() or (data_dir / "retrain" / run_id).exists():
        n += 1
        run_id = f"{base}-{n}"
    return run_id


def _describe(step: str, r: dict) -> str:
    if r.get("status") == "skipped":
        return f"skipped: {r.get('reason')}"
    took = f"in {r.get('seconds', 0):.1f}s"
    if step == "scrape":
        return (f"{r['repositories_seen']} repositories seen ({r['new_repositories']} new, "
                f"{r['repositories_in_table']} in the table) with {r['api_calls']} API calls, "
                f"{r['slices_left']} slices left {took}")
    if step == "clone":
        return (f"{r['cloned']} cloned, {r['failed']} failed, {r['skipped']} skipped; {r['py_files']} .py files "
                f"({r['py_bytes'] / 1e6:.1f} MB) kept in {r['clones_dir']} {took}")
    if step == "train":
        return f"model in {r['model_dir']} (corpus: {r['files']} files, {r['chars']} chars) {took}"
    if step == "evaluate":
        cur = r.get("current")
        return (f"new bpc {r['new']['bpc']:.4f} top1 {r['new']['top1']:.3f} on {r['new']['chars']} chars; "
                + (f"current bpc {cur['bpc']:.4f} top1 {cur['top1']:.3f}" if cur else r.get("current_note", ""))
                + f" {took}")
    if step == "promote":
        where = f"now serving {r['current']}" if r["promoted"] else f"still serving {r['current']}"
        return f"{'promoted' if r['promoted'] else 'not promoted'}: {r['reason']}; {where}"
    return str(r)
