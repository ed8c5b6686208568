"""Local bare git repositories to clone from, built with the real git.

`make_bare_repo(root, name, files, links)` commits `files` ({path: bytes|str})
and symlinks ({path: target}) into a work tree, then makes `root/<name>.git`, a
bare clone of it, and returns its file:// URL.
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": os.environ.get("HOME", "/tmp"),
}


def git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def make_bare_repo(root: Path, name: str, files: dict, links: dict | None = None, commits: int = 1) -> str:
    work = root / "src" / name
    work.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=work)
    for i in range(commits):
        for rel, content in files.items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            path.write_bytes(data if i == commits - 1 else data + f"\n# v{i}\n".encode())
        for rel, target in (links or {}).items():
            path = work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.is_symlink():
                path.unlink()
            os.symlink(target, path)
        git("add", "-A", cwd=work)
        git("commit", "-q", "--allow-empty", "-m", f"commit {i}", cwd=work)
    bare = root / f"{name}.git"
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    return bare.resolve().as_uri()


def make_empty_bare_repo(root: Path, name: str) -> str:
    bare = root / f"{name}.git"
    git("init", "-q", "--bare", str(bare), cwd=root)
    return bare.resolve().as_uri()


class HangingServer:
    """Accepts TCP connections and never answers: a git remote that hangs forever."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hang/repo.git"

    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        self._stop = True
        for conn in self.connections:
            conn.close()
        self.sock.close()
