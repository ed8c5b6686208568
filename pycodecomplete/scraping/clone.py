"""`pycc clone`: shallow, safe clones of the repositories in the table, `.py` files only.

For each repository:

1. `git clone --depth 1 --single-branch --no-tags --no-checkout` into a fresh
   staging directory beside the clones directory, through GitPython, with
   `GIT_TERMINAL_PROMPT=0` (never ask for a password) in its own process group,
   and a per-repository timeout that SIGKILLs the whole group.
2. Walk the commit's tree through GitPython and write out only regular files
   (git mode 100644/100755) whose name ends in `.py`, that fit under the size cap,
   and that are text (no NUL byte, valid UTF-8). Symlinks (mode 120000) and
   submodules are never materialised, so a link that points outside the tree can
   be neither followed nor copied; `.git` is never part of the output.
3. Rename the finished output into `<clones>/<owner>/<name>` in one step. Until
   that rename nothing is visible in the clones directory, and the table says
   `cloned` only after it, so a failed, timed-out or killed clone never leaves a
   half directory that counts as done. Leftover staging directories of dead
   processes are removed on the next run.

Local paths are turned into `file://` URLs, since git ignores `--depth` otherwise.
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.scraping.store import CLONED, FAILED, SKIPPED, RepositoryStore, redact_url

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 600.0
DEFAULT_MAX_FILE_BYTES = 1_000_000  # matches the corpus's own cap
DEFAULT_MAX_REPO_MB = 500.0
_ALLOWED_SCHEMES = ("https://", "http://", "ssh://", "git://", "file://")
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:(?!//)")
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # fail instead of asking for credentials
    "GIT_ASKPASS": "/bin/false" if os.path.exists("/bin/false") else "false",
    "SSH_ASKPASS": "/bin/false" if os.path.exists("/bin/false") else "false",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
    "GIT_LFS_SKIP_SMUDGE": "1",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@dataclass
class CloneOptions:
    clones_dir: Path
    timeout_s: float = DEFAULT_TIMEOUT_S  # per repository, clone and extraction together
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES  # larger .py files are skipped
    max_repo_mb: float | None = DEFAULT_MAX_REPO_MB  # larger repositories (GitHub's disk_usage) are skipped
    workers: int = 4
    refresh: bool = False  # clone again the repositories already cloned
    limit: int | None = None  # at most this many repositories this run

    def validate(self) -> "CloneOptions":
        if self.workers < 1:
            raise OptionError("workers", "must be at least 1")
        for name in ("timeout_s", "max_file_bytes", "max_repo_mb"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise OptionError(name, "must be positive")
        if self.limit is not None and self.limit < 1:
            raise OptionError("limit", "must be at least 1")
        return self

    @property
    def staging_dir(self) -> Path:
        """Beside the clones directory: same filesystem (atomic rename), outside any corpus walk."""
        return self.clones_dir.parent / f".{self.clones_dir.name}.partial"


@dataclass
class CloneResult:
    name_with_owner: str
    status: str  # cloned | failed | skipped
    commit: str | None = None
    py_files: int = 0
    py_bytes: int = 0
    error: str | None = None
    seconds: float = 0.0
    skipped_files: Counter = field(default_factory=Counter)  # reason -> files
    commits_fetched: int = 0  # 1 for a shallow clone
    path: Path | None = None


class CloneTimeout(Exception):
    pass


class GitFailed(Exception):
    """git exited non-zero; the message is its own `fatal:` line (credentials redacted)."""


def clone_url(url: str) -> str:
    """The URL to hand to git: local paths become file:// (so --depth applies); odd schemes are refused."""
    url = str(url).strip()
    if not url or url.startswith("-"):
        raise PyccError(f"refusing clone URL {redact_url(url)!r}")
    if url.startswith(_ALLOWED_SCHEMES) or _SCP_LIKE.match(url):
        return url
    if "::" in url or re.match(r"^[a-zA-Z][\w+.-]*://", url):
        raise PyccError(f"refusing clone URL {redact_url(url)!r}: only https, http, ssh, git and file URLs")
    return Path(url).expanduser().resolve().as_uri()


def repository_dir(clones_dir: Path, name_with_owner: str) -> Path:
    """`<clones>/<owner>/<name>`, refusing names that could step outside the clones directory."""
    parts = name_with_owner.split("/")
    if len(parts) != 2 or any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\0" in p for p in parts):
        raise PyccError(f"bad repository name {name_with_owner!r}")
    return Path(clones_dir) / parts[0] / parts[1]


def _run_git(args: list[str], cwd: Path, timeout_s: float) -> str:
    """Run git through GitPython in its own process group; SIGKILL the group on timeout."""
    from git import Git

    runner = Git(str(cwd))
    handle = runner.execute(["git", *args], as_process=True, env=_GIT_ENV, start_new_session=True)
    proc = handle.proc
    try:
        _, err = proc.communicate(timeout=max(0.1, timeout_s))
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise CloneTimeout(f"timed out after {timeout_s:g}s (git killed)") from None
    finally:
        if proc.poll() is None:  # an exception other than the timeout (KeyboardInterrupt...)
            _kill_group(proc)
    if proc.returncode != 0:
        text = err.decode("utf-8", "replace") if isinstance(err, bytes) else str(err or "")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        message = next((line for line in lines if line.lower().startswith(("fatal:", "error:"))),
                       lines[-1] if lines else f"git exited with status {proc.returncode}")
        raise GitFailed(f"git {args[0]} failed: {redact_url(message)}")
    return ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # git and every helper it started (remote-https, index-pack)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.communicate(timeout=10)
    except (subprocess.TimeoutExpired, ValueError, OSError):
        pass


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _safe_relative(path: str) -> PurePosixPath | None:
    rel = PurePosixPath(path)
    if rel.is_absolute() or any(p in ("", ".", "..") or p.lower() == ".git" for p in rel.parts):
        return None
    return rel


def clone_repository(name_with_owner: str, url: str, options: CloneOptions) -> CloneResult:
    """Clone one repository into `<clones>/<owner>/<name>`, keeping only its `.py` files."""
    started = time.monotonic()
    result = CloneResult(name_with_owner, FAILED)
    try:
        final = repository_dir(options.clones_dir, name_with_owner)
        source = clone_url(url)
    except PyccError as exc:
        result.error = str(exc)
        return result
    options.staging_dir.mkdir(parents=True, exist_ok=True)
    safe_name = re.sub(r"[^\w.-]", "_", name_with_owner)[:80]
    work = Path(tempfile.mkdtemp(prefix=f"{safe_name}.{os.getpid()}.", dir=options.staging_dir))
    repo = None
    try:
        deadline = started + options.timeout_s
        _run_git(["clone", "--depth", "1", "--single-branch", "--no-tags", "--no-checkout", "--quiet",
                  "--template=", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                  "--", source, str(work / "git")], cwd=work, timeout_s=options.timeout_s)
        from git import Repo

        repo = Repo(str(work / "git"))
        try:
            commit = repo.head.commit
        except ValueError:  # no commits: HEAD points nowhere
            result.status, result.error = SKIPPED, "empty repository (no commits)"
            return result
        result.commits_fetched = sum(1 for _ in repo.iter_commits())
        out = work / "out"
        out.mkdir()
        for item in commit.tree.traverse():
            if time.monotonic() > deadline:
                raise CloneTimeout(f"timed out after {options.timeout_s:g}s (while extracting files)")
            if item.type != "blob" or not item.path.endswith(".py"):
                continue
            if not stat.S_ISREG(item.mode):  # 120000 symlinks (and anything odd) are never written
                result.skipped_files["symlink" if stat.S_ISLNK(item.mode) else "not-regular"] += 1
                continue
            rel = _safe_relative(item.path)
            if rel is None:
                result.skipped_files["bad-path"] += 1
                continue
            if item.size > options.max_file_bytes:
                result.skipped_files["too-large"] += 1
                continue
            data = item.data_stream.read()
            if b"\0" in data:
                result.skipped_files["binary"] += 1
                continue
            if not _is_utf8(data):
                result.skipped_files["not-utf8"] += 1
                continue
            target = out.joinpath(*rel.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "xb") as f:
                f.write(data)
            result.py_files += 1
            result.py_bytes += len(data)
        repo.close()
        repo = None
        _publish(out, final, work)
        result.status, result.commit, result.path = CLONED, commit.hexsha, final
    except (CloneTimeout, GitFailed) as exc:
        result.error = str(exc)
    except Exception as exc:  # OSError, a corrupt object, GitPython's own errors: recorded on the row
        result.error = redact_url(re.sub(r"\s+", " ", f"{exc.__class__.__name__}: {exc}").strip())
    finally:
        if repo is not None:
            repo.close()
        shutil.rmtree(work, ignore_errors=True)
        result.seconds = time.monotonic() - started
    return result


def _publish(out: Path, final: Path, work: Path) -> None:
    """Make `out` appear as `final` in one rename; an older copy is moved aside, then removed."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = work / "old"
    if final.exists() or final.is_symlink():
        os.rename(final, old)
    os.rename(out, final)


def clean_staging(staging_dir: Path) -> int:
    """Remove staging directories left by processes that no longer run; returns how many.

    Each is named `<repo>.<pid>.<random>`: those of this process, or of another one still
    alive (a concurrent `pycc clone`), are left alone.
    """
    removed = 0
    if not staging_dir.is_dir():
        return 0
    for entry in staging_dir.iterdir():
        match = re.match(r"^.*\.(\d+)\.[^.]*$", entry.name)
        if match and (int(match.group(1)) == os.getpid() or _alive(int(match.group(1)))):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink()
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clone_all(store: RepositoryStore, options: CloneOptions, progress: bool = True) -> dict:
    """Clone the repositories of the table that need it; record each outcome on its row."""
    options.validate()
    options.clones_dir.mkdir(parents=True, exist_ok=True)
    stale = clean_staging(options.staging_dir)
    if stale:
        log.info("removed %d unfinished clone(s) left by an interrupted run", stale)
    rows = store.repositories_to_clone(refresh=options.refresh, limit=options.limit)
    started = time.monotonic()
    summary = Counter()
    skipped_files = Counter()
    todo = []
    for row in rows:
        limit_kib = None if options.max_repo_mb is None else options.max_repo_mb * 1024
        if limit_kib is not None and row.get("disk_usage") and row["disk_usage"] > limit_kib:
            store.record_clone(row["name_with_owner"], status=SKIPPED,
                               error=f"repository is {row['disk_usage'] / 1024:.0f} MB, over max_repo_mb "
                                     f"{options.max_repo_mb:g}")
            summary["skipped"] += 1
            continue
        todo.append(row)

    from tqdm import tqdm
    bar = tqdm(total=len(todo), unit="repo", desc="clone", disable=not progress, dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="clone")
    try:
        futures = {pool.submit(clone_repository, row["name_with_owner"], row["url"], options): row
                   for row in todo}
        for future in as_completed(futures):
            result = future.result()
            store.record_clone(result.name_with_owner, status=result.status, commit=result.commit,
                               py_files=result.py_files, py_bytes=result.py_bytes, error=result.error)
            summary[result.status] += 1
            skipped_files.update(result.skipped_files)
            if result.status == CLONED:
                summary["py_files"] += result.py_files
                summary["py_bytes"] += result.py_bytes
            else:
                log.info("%s: %s (%s)", result.name_with_owner, result.status, result.error)
            bar.update(1)
            bar.set_postfix(cloned=summary["cloned"], failed=summary["failed"], refresh=False)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        bar.close()
        pool.shutdown(wait=True)
    seconds = time.monotonic() - started
    return {
        "repositories": len(rows),
        "cloned": summary["cloned"], "failed": summary["failed"], "skipped": summary["skipped"],
        "py_files": summary["py_files"], "py_bytes": summary["py_bytes"],
        "files_skipped": dict(skipped_files),
        "seconds": round(seconds, 2),
        "repos_per_s": round(summary["cloned"] / seconds, 2) if seconds > 0 else None,
        "clones_dir": str(options.clones_dir),
        "table": store.clone_status_counts(),
    }
