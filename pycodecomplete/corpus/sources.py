"""Read Python files into a corpus, split train/validation by file.

The embedded default corpus is the running interpreter's standard library, minus
its test suites, so training works offline on any machine. Files are filtered
(counted by reason), normalised to `\\n` newlines, and assigned to a split by a hash
of their path relative to their root: the same file always lands on the same side,
and adding files never moves existing ones.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sysconfig
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from pycodecomplete.corpus.dedupe import near_duplicates as near_duplicate_indices
from pycodecomplete.corpus.installed import INSTALLED, installed_sources
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import normalize_newlines

log = logging.getLogger(__name__)

STDLIB = "stdlib"  # the name recorded for the embedded default corpus
# Directories of the standard library that hold test suites or third-party code.
_STDLIB_EXCLUDED_DIRS = {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
SKIP_REASONS = ("not-utf8", "nul-bytes", "too-large", "generated", "duplicate", "near-duplicate", "empty",
                "unreadable")


@dataclass
class SourceFile:
    root: str  # the corpus root as given (or "stdlib")
    path: str  # relative to the root, with forward slashes
    text: str  # newline-normalised source
    split: str  # "train" or "val"


@dataclass
class Corpus:
    roots: list[str]
    files: list[SourceFile]
    skipped: Counter = field(default_factory=Counter)
    installed: dict | None = None  # what the `installed` source read and left out, by license

    def split(self, name: str) -> list[SourceFile]:
        return [f for f in self.files if f.split == name]

    def stats(self) -> dict:
        out = {"roots": self.roots, "skipped": {r: self.skipped.get(r, 0) for r in SKIP_REASONS}}
        for name in ("train", "val", "unused"):
            files = self.split(name)
            if files or name != "unused":
                out[name] = {"files": len(files), "chars": sum(len(f.text) for f in files)}
        out["files"] = out["train"]["files"] + out["val"]["files"]
        out["chars"] = out["train"]["chars"] + out["val"]["chars"]
        if self.installed is not None:
            out["installed"] = self.installed
        return out


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def split_of(rel_path: str, val_fraction: float) -> str:
    """Deterministic split from a hash of the relative path (stable as files are added)."""
    digest = hashlib.sha256(rel_path.encode("utf-8", "surrogateescape")).digest()
    return "val" if int.from_bytes(digest[:8], "big") / 2**64 < val_fraction else "train"


def _walk_py(root: Path, excluded_dirs: set[str]):
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in excluded_dirs and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = Path(dirpath, name)
                if not path.is_symlink():
                    yield path


def _check(raw: bytes, max_file_bytes: int, max_line_chars: int) -> tuple[str | None, str | None]:
    """Return (text, None) for a usable file or (None, reason)."""
    if len(raw) > max_file_bytes:
        return None, "too-large"
    if b"\x00" in raw:
        return None, "nul-bytes"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not-utf8"
    text = normalize_newlines(text.removeprefix("\ufeff"))
    if not text.strip():
        return None, "empty"
    if max(map(len, text.split("\n"))) > max_line_chars:
        return None, "generated"
    return text, None


def load_corpus(roots: list[str | Path] | None, *, val_fraction: float = 0.05,
                max_file_bytes: int = 1_000_000, max_line_chars: int = 1000, near_duplicates: float = 0.0,
                exclude_distributions: tuple[str, ...] = (), progress: bool = False) -> Corpus:
    """Read every usable `.py` file under `roots` (the stdlib when `roots` is empty).

    Root names `stdlib` and `installed` are the embedded sources (`corpus/installed.py`).
    `near_duplicates`: drop files whose estimated Jaccard similarity to an earlier
    file is at least this (0: keep them; `corpus/dedupe.py`).
    """
    named: list[tuple[str, Path, set[str]]] = []
    extra: list[tuple[str, Path, Path]] = []
    installed = None
    if not roots:
        named.append((STDLIB, stdlib_root(), _STDLIB_EXCLUDED_DIRS))
    for root in roots or []:
        if str(root) == STDLIB:
            named.append((STDLIB, stdlib_root(), _STDLIB_EXCLUDED_DIRS))
            continue
        if str(root) == INSTALLED:
            found, selection = installed_sources(set(exclude_distributions))
            extra += [(INSTALLED, base, path) for base, path in found]
            installed = selection.to_json()
            log.info("installed packages: %d permissive distributions read, %d excluded by name, left out by "
                     "license: %s", len(selection.distributions), len(selection.excluded),
                     dict(selection.left_out_by_license) or "none")
            continue
        path = Path(root)
        if not path.exists():
            raise PyccError(f"corpus directory {root} does not exist")
        if not path.is_dir():
            raise PyccError(f"corpus path {root} is not a directory")
        named.append((str(root), path, {"__pycache__", ".git"}))

    paths = [(name, base, p) for name, base, excluded in named for p in _walk_py(base, excluded)] + extra
    names = [name for name, _, _ in named] + ([INSTALLED] if installed is not None else [])
    if not paths:
        raise PyccError(f"no .py files found under {', '.join(names)}")

    files, skipped, seen = [], Counter(), set()
    iterator = paths
    if progress:
        from tqdm import tqdm
        iterator = tqdm(paths, desc="reading corpus", unit="file")
    for name, base, path in iterator:
        try:
            raw = path.read_bytes()
        except OSError:
            skipped["unreadable"] += 1
            continue
        text, reason = _check(raw, max_file_bytes, max_line_chars)
        if reason is None:
            digest = hashlib.sha256(raw).digest()
            if digest in seen:
                reason = "duplicate"
            seen.add(digest)
        if reason:
            skipped[reason] += 1
            log.debug("skip %s (%s)", path, reason)
            continue
        rel = path.relative_to(base).as_posix()
        files.append(SourceFile(root=name, path=rel, text=text, split=split_of(rel, val_fraction)))
    dropped = set(near_duplicate_indices([f.text for f in files], near_duplicates))
    if dropped:
        skipped["near-duplicate"] += len(dropped)
        files = [f for i, f in enumerate(files) if i not in dropped]
    if not files:
        raise PyccError(f"no usable .py files under {', '.join(names)} (skipped: {dict(skipped)})")
    return Corpus(roots=names, files=files, skipped=skipped, installed=installed)


def read_sources(paths: list[str | Path], *, max_file_bytes: int = 1_000_000,
                 max_line_chars: int = 1000) -> list[SourceFile]:
    """Files to evaluate on: each path is a .py file or a directory searched recursively.

    The same filters as training apply; there is no split and no de-duplication.
    """
    files = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise PyccError(f"{given} does not exist")
        candidates = [path] if path.is_file() else list(_walk_py(path, {"__pycache__", ".git"}))
        for file in candidates:
            try:
                raw = file.read_bytes()
            except OSError as exc:
                raise PyccError(f"cannot read {file}: {exc.strerror}") from None
            text, reason = _check(raw, max_file_bytes, max_line_chars)
            if reason:
                if path.is_file():
                    raise PyccError(f"{file}: unusable as Python source ({reason})")
                log.info("skip %s (%s)", file, reason)
                continue
            rel = file.name if path.is_file() else file.relative_to(path).as_posix()
            files.append(SourceFile(root=str(given), path=rel, text=text, split="eval"))
    if not files:
        raise PyccError(f"no usable .py files in {', '.join(str(p) for p in paths)}")
    return files


def corpus_for(config, roots: list[str | Path] | None, progress: bool = False) -> Corpus:
    """The corpus of `roots` (the stdlib when empty), read and split with `config`'s corpus fields."""
    corpus = load_corpus(roots, val_fraction=config.val_fraction, max_file_bytes=config.max_file_bytes,
                         max_line_chars=config.max_line_chars, near_duplicates=config.near_duplicates,
                         exclude_distributions=config.excluded_distributions(), progress=progress)
    if config.max_train_chars:
        cap_training(corpus, config.max_train_chars)
    return corpus


def cap_training(corpus: Corpus, max_chars: int) -> None:
    """Keep about `max_chars` of the training split; the other training files become "unused".

    Files are taken in the order of a hash of their root and path, so the subset is a
    fair sample of every source, the same on every run, and the validation split is
    untouched. The file that crosses the cap is kept.
    """
    def order(f: SourceFile) -> bytes:
        return hashlib.sha256(f"{f.root}\0{f.path}".encode("utf-8", "surrogateescape")).digest()

    used = 0
    for f in sorted(corpus.split("train"), key=order):
        if used >= max_chars:
            f.split = "unused"
        used += len(f.text)
    unused = corpus.split("unused")
    if unused:
        log.info("max_train_chars %d: training on %d characters; %d files (%d characters) left unused",
                 max_chars, sum(len(f.text) for f in corpus.split("train")), len(unused),
                 sum(len(f.text) for f in unused))


def validation_files(artifact) -> list[SourceFile]:
    """A model's own validation split, rebuilt from the corpus its training recorded."""
    roots = (artifact.summary().get("corpus") or {}).get("roots")
    if not roots:
        raise PyccError(f"{artifact.path} records no training corpus, so there is no validation split; "
                        "name the files to use")
    try:
        corpus = corpus_for(artifact.config, roots)
    except PyccError as exc:
        raise PyccError(f"cannot rebuild the validation split ({exc}); name the files to use") from None
    files = corpus.split("val")
    if not files:
        raise PyccError("the model's validation split is empty; name the files to use")
    return files
