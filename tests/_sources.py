"""Tiny corpora for the learning tests, written into tmp_path."""
from __future__ import annotations

import sysconfig
from pathlib import Path

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Small, stable, pure-Python stdlib modules: real code, a few hundred KB in all.
SMALL_MODULES = ["_markupbase.py", "_py_abc.py", "bisect.py", "colorsys.py", "copy.py", "fnmatch.py",
                 "genericpath.py", "glob.py", "heapq.py", "keyword.py", "linecache.py", "opcode.py",
                 "queue.py", "sched.py", "shlex.py", "stat.py", "string.py", "textwrap.py"]


def write_tiny_corpus(root: Path, modules=SMALL_MODULES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in modules:
        (root / name).write_bytes((STDLIB / name).read_bytes())
    return root
