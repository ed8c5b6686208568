"""Cloning from local bare repositories: only .py text files, no links followed, timeouts that kill git."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from git_fixtures import HangingServer, make_bare_repo, make_empty_bare_repo

from pycodecomplete.errors import PyccError
from pycodecomplete.scraping import clone as clone_mod
from pycodecomplete.scraping.clone import (CloneOptions, clean_staging, clone_all, clone_repository, clone_url,
                                           repository_dir)
from pycodecomplete.scraping.store import CLONED, FAILED, PENDING, SKIPPED

ROOT = Path(__file__).resolve().parent.parent
CAP = 5000
SECRET = "TOP_SECRET_OUTSIDE_THE_TREE = 42\n"
GOOD_FILES = {
    "setup.py": "from setuptools import setup\nsetup()\n",
    "pkg/__init__.py": "",
    "pkg/core.py": "def add(a, b):\n    return a + b\n",
    "pkg/sub/__init__.py": "from .deep import mod\n",
    "pkg/sub/deep/mod.py": "VALUE = 'ünïcode'\n",
    "scripts/tool.py": "#!/usr/bin/env python\nprint('hi')\n",
    ".github/ci_helper.py": "CI = True\n",  # a dot-directory that is not .git is ordinary
}


@pytest.fixture(scope="module")
def remotes(tmp_path_factory):
    root = tmp_path_factory.mktemp("remotes")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(SECRET)
    files = dict(GOOD_FILES)
    files.update({
        "README.md": "# not python\n",
        "data.json": "{}",
        "pkg/compiled.pyc": b"\x00\x01",
        "binary.py": b"\x7fELF\x00\x00\x01binary",  # a .py that is really binary
        "latin1.py": b"s = '\xe9t\xe9'\n",  # not UTF-8
        "huge.py": "x = 1\n" * (CAP // 6 + 10),  # over the cap
    })
    links = {
        "escape.py": str(outside / "secret.py"),  # absolute link out of the tree
        "pkg/rel_escape.py": "../../../outside/secret.py",  # relative link out of the tree
        "linked_dir": str(outside),  # a directory link: outside/secret.py must not appear
        "pkg/inside_link.py": "core.py",  # even a link inside the tree is not copied
    }
    urls = {
        "good": make_bare_repo(root, "good", files, links, commits=3),
        "small": make_bare_repo(root, "small", {"only.py": "A = 1\n"}),
        "small2": make_bare_repo(root, "small2", {"newer.py": "B = 2\n"}),
        "empty": make_empty_bare_repo(root, "empty"),
        "missing": (root / "does-not-exist.git").as_uri(),
    }
    for i in range(6):
        urls[f"many{i}"] = make_bare_repo(root, f"many{i}", {f"m{i}/__init__.py": f"N = {i}\n",
                                                             f"m{i}/a.py": "pass\n" * (i + 1)})
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root / "good.git", capture_output=True, text=True,
                          check=True).stdout.strip()
    return {"root": root, "urls": urls, "good_head": head}


def add_rows(store, urls: dict, stars: dict | None = None, disk: dict | None = None):
    rows = []
    for name, url in urls.items():
        rows.append(dict(name_with_owner=f"owner/{name}", owner="owner", name=name, url=url,
                         star_count=(stars or {}).get(name, 1001), disk_usage=(disk or {}).get(name, 10)))
    store.upsert_repositories(rows)


def options(tmp_path, **kw) -> CloneOptions:
    kw.setdefault("timeout_s", 60)
    kw.setdefault("max_file_bytes", CAP)
    kw.setdefault("workers", 2)
    return CloneOptions(clones_dir=tmp_path / "clones", **kw)


def tree(path: Path) -> dict[str, bytes]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            assert not full.is_symlink(), f"symlink in clones: {full}"
        for name in filenames:
            full = Path(dirpath, name)
            out[full.relative_to(path).as_posix()] = full.read_bytes()
    return out


def test_keeps_only_regular_py_text_files(store, remotes, tmp_path):
    add_rows(store, {k: remotes["urls"][k] for k in ("good", "missing", "empty")})
    summary = clone_all(store, options(tmp_path), progress=False)
    assert (summary["cloned"], summary["failed"], summary["skipped"]) == (1, 1, 1)
    clones = tmp_path / "clones"
    got = tree(clones)
    assert set(got) == {f"owner/good/{p}" for p in GOOD_FILES}
    for rel, content in GOOD_FILES.items():
        assert got[f"owner/good/{rel}"] == content.encode()
    assert not any(".git" in p.split("/") for p in got)
    assert not any(SECRET.encode() in data for data in got.values())
    assert summary["files_skipped"] == {"symlink": 3, "binary": 1, "not-utf8": 1, "too-large": 1}

    row = store.get_repository("owner/good")
    assert row["clone_status"] == CLONED and row["cloned_commit"] == remotes["good_head"]
    assert row["py_files"] == len(GOOD_FILES)
    assert row["py_bytes"] == sum(len(c.encode()) for c in GOOD_FILES.values()) == summary["py_bytes"]
    assert row["last_error"] is None and row["cloned_at"] is not None

    missing = store.get_repository("owner/missing")
    assert missing["clone_status"] == FAILED and "does not appear to be a git repository" in missing["last_error"]
    assert not (clones / "owner" / "missing").exists()
    empty = store.get_repository("owner/empty")
    assert empty["clone_status"] == SKIPPED and "empty repository" in empty["last_error"]
    # Nothing half-done is left beside the clones either.
    assert list(options(tmp_path).staging_dir.iterdir()) == []


def test_clone_is_shallow_and_single_branch(remotes, tmp_path):
    result = clone_repository("owner/good", remotes["urls"]["good"], options(tmp_path))
    assert result.status == CLONED and result.commits_fetched == 1  # 3 commits upstream


def test_second_run_clones_only_what_is_missing_and_refresh_replaces(store, remotes, tmp_path):
    add_rows(store, {"small": remotes["urls"]["small"]})
    assert clone_all(store, options(tmp_path), progress=False)["cloned"] == 1
    again = clone_all(store, options(tmp_path), progress=False)
    assert again["repositories"] == 0 and again["cloned"] == 0
    # The repository moved on upstream (here: a different remote); --refresh replaces the copy whole.
    add_rows(store, {"small": remotes["urls"]["small2"]})
    refreshed = clone_all(store, options(tmp_path, refresh=True), progress=False)
    assert refreshed["cloned"] == 1
    assert tree(tmp_path / "clones") == {"owner/small/newer.py": b"B = 2\n"}
    assert store.get_repository("owner/small")["py_files"] == 1


def test_repositories_over_max_repo_mb_are_skipped_unseen(store, remotes, tmp_path):
    add_rows(store, {"small": remotes["urls"]["small"], "good": remotes["urls"]["good"]},
             disk={"good": 300 * 1024})
    summary = clone_all(store, options(tmp_path, max_repo_mb=200), progress=False)
    assert summary["skipped"] == 1 and summary["cloned"] == 1
    good = store.get_repository("owner/good")
    assert good["clone_status"] == SKIPPED and "max_repo_mb" in good["last_error"]
    assert not (tmp_path / "clones" / "owner" / "good").exists()


def test_parallel_workers(store, remotes, tmp_path):
    urls = {k: v for k, v in remotes["urls"].items() if k.startswith("many")}
    add_rows(store, urls)
    summary = clone_all(store, options(tmp_path, workers=4), progress=False)
    assert summary["cloned"] == 6 and summary["failed"] == 0
    assert store.clone_status_counts() == {CLONED: 6}
    assert len(tree(tmp_path / "clones")) == 12


def git_processes_for(port: int) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(str(port) in part for part in proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return found


def test_timeout_really_kills_git(store, tmp_path):
    hang = HangingServer()
    try:
        add_rows(store, {"hang": hang.url})
        started = time.monotonic()
        summary = clone_all(store, options(tmp_path, timeout_s=1.5), progress=False)
        elapsed = time.monotonic() - started
        assert hang.connections, "git never reached the hanging server"
        assert summary["failed"] == 1 and elapsed < 15
        row = store.get_repository("owner/hang")
        assert row["clone_status"] == FAILED and "timed out after 1.5s (git killed)" in row["last_error"]
        time.sleep(0.2)
        assert git_processes_for(hang.port) == [], "git (or its remote helper) survived the timeout"
        assert not (tmp_path / "clones" / "owner" / "hang").exists()
        assert list(options(tmp_path).staging_dir.iterdir()) == []
    finally:
        hang.close()


def test_failure_while_publishing_leaves_nothing(remotes, tmp_path, monkeypatch):
    def broken(out, final, work):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(clone_mod, "_publish", broken)
    result = clone_repository("owner/small", remotes["urls"]["small"], options(tmp_path))
    assert result.status == FAILED and "No space left on device" in result.error
    assert not (tmp_path / "clones" / "owner" / "small").exists()
    assert list(options(tmp_path).staging_dir.iterdir()) == []


def test_kill_9_mid_clone_leaves_no_directory_counted_as_done(store, db_url, table_prefix, remotes, tmp_path):
    hang = HangingServer()
    add_rows(store, {"hang": hang.url, "small": remotes["urls"]["small"]}, stars={"hang": 99999, "small": 5})
    cmd = [sys.executable, "-m", "pycodecomplete", "clone", "--db", db_url, "--table-prefix", table_prefix,
           "--data-dir", str(tmp_path), "--workers", "1", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not hang.connections and time.monotonic() < deadline:
            time.sleep(0.02)
        assert hang.connections, "the clone never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        hang.close()  # the orphaned git sees the connection drop and exits
    staging = tmp_path / ".clones.partial"
    assert any(staging.iterdir()), "expected the killed clone's unfinished directory"
    assert not (tmp_path / "clones" / "owner" / "hang").exists()
    assert store.get_repository("owner/hang")["clone_status"] == PENDING
    # Next run: the leftovers are removed, and the repository is cloned for real.
    add_rows(store, {"hang": remotes["urls"]["small2"]})
    for p in git_processes_for(hang.port):
        p.wait(timeout=10)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "removed 1 unfinished clone" in done.stderr
    assert list(staging.iterdir()) == []
    assert store.clone_status_counts() == {CLONED: 2}
    assert tree(tmp_path / "clones") == {"owner/hang/newer.py": b"B = 2\n", "owner/small/only.py": b"A = 1\n"}


def test_stale_staging_cleanup(tmp_path):
    staging = tmp_path / "staging"
    staging.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (staging / f"owner_x.{dead.pid}.abc123").mkdir()
    (staging / f"owner_y.{os.getpid()}.abc123").mkdir()  # ours: in progress
    (staging / "owner_z.1.abc123").mkdir()  # pid 1 is alive: someone else's clone in progress
    assert clean_staging(staging) == 1
    assert sorted(p.name for p in staging.iterdir()) == ["owner_y.%d.abc123" % os.getpid(), "owner_z.1.abc123"]


def test_clone_url_and_repository_dir_are_checked(tmp_path):
    assert clone_url("https://github.com/a/b") == "https://github.com/a/b"
    assert clone_url("git@github.com:a/b.git") == "git@github.com:a/b.git"
    assert clone_url(str(tmp_path / "x.git")) == (tmp_path / "x.git").as_uri()
    for bad in ("ext::sh -c touch% /tmp/pwned", "-uploadpack=touch /tmp/x", "fd::17", "gopher://x/y", ""):
        with pytest.raises(PyccError, match="refusing"):
            clone_url(bad)
    assert repository_dir(tmp_path, "a/b") == tmp_path / "a" / "b"
    for bad in ("../b", "a/..", "a/b/c", "a", ".git/b", "a/.hidden"):
        with pytest.raises(PyccError, match="bad repository name"):
            repository_dir(tmp_path, bad)
    result = clone_repository("../evil", "https://example.invalid/x", options(tmp_path))
    assert result.status == FAILED and "bad repository name" in result.error


def test_git_never_prompts(monkeypatch, tmp_path):
    assert clone_mod._GIT_ENV["GIT_TERMINAL_PROMPT"] == "0"
    # An http remote that wants credentials fails at once instead of waiting on a prompt.
    from http.server import BaseHTTPRequestHandler, HTTPServer
    import threading

    class AuthRequired(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    server = HTTPServer(("127.0.0.1", 0), AuthRequired)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        result = clone_repository("owner/private", f"http://127.0.0.1:{server.server_port}/p.git",
                                  options(tmp_path, timeout_s=30))
        assert result.status == FAILED and time.monotonic() - started < 20
        assert "timed out" not in result.error
    finally:
        server.shutdown()
        server.server_close()


def test_file_modes_are_plain(remotes, tmp_path):
    result = clone_repository("owner/good", remotes["urls"]["good"], options(tmp_path))
    for path in result.path.rglob("*"):
        mode = path.lstat().st_mode
        assert stat.S_ISDIR(mode) or stat.S_ISREG(mode)
