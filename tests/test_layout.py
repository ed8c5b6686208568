"""The layout's rules, checked on the source: small modules, no import cycles, sides kept apart.

Imports are read with `ast`, those inside functions included (a lazy import is
still a dependency). Only explicit imports count, not the parent packages that
Python imports on the way.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pycodecomplete", "webapp")
MAX_LINES = 400


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules that module `name` imports, anywhere in its body."""
    is_package = path.name == "__init__.py"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".") if is_package else name.split(".")[:-1]
                parent = parent[:len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            # `from package import submodule` depends on the submodule; else on the module itself.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    found = modules()
    return {name: imports_of(name, path, set(found)) for name, path in found.items()}


def test_no_module_is_over_the_size_limit():
    sizes = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components: each one of more than one module is a cycle."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles(graph):
    assert find_cycles(graph) == []


def test_the_cycle_check_finds_a_cycle_through_a_lazy_import(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from c import g\n")
    (tmp_path / "c.py").write_text("from a import x\n")
    known = {"a", "b", "c"}
    graph = {name: imports_of(name, tmp_path / f"{name}.py", known) for name in known}
    assert find_cycles(graph) == [["a", "b", "c"]]


def test_serving_never_imports_training_and_families_stay_apart(graph):
    from pycodecomplete.families import FAMILIES

    serving = [m for m in graph if m.startswith(("pycodecomplete.engine", "webapp"))]
    for module in serving:
        assert not {t for t in graph[module] if t.startswith(("pycodecomplete.ml", "pycodecomplete.scraping"))}, module
    scraping = [m for m in graph if m.startswith("pycodecomplete.scraping")]
    for module in scraping:
        assert not {t for t in graph[module] if t.startswith(("pycodecomplete.ml", "pycodecomplete.engine"))}, module
    packages = {name: (f.training, f.serving) for name, f in FAMILIES.items()}
    for name, own in packages.items():
        others = [p for other, pair in packages.items() if other != name for p in pair]
        for module in [m for m in graph if m.startswith(own)]:
            assert not {t for t in graph[module] if t.startswith(tuple(others))}, module


def test_the_cli_parser_imports_only_the_standard_library():
    """So `pycc --help` is instant and `pycc serve` sets BLAS threads before numpy loads."""
    script = ("import sys; from pycodecomplete.cli import build_parser; build_parser(); "
              "print(sorted(m for m in ('numpy', 'tensorflow', 'flask', 'sqlalchemy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_version_has_one_source():
    from pycodecomplete import __version__

    assert "version=" not in (ROOT / "setup.py").read_text().replace("version=version()", "")
    assert __version__.count(".") == 2
