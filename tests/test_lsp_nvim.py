"""A real editor: Debian's Neovim, headless, completes Python through `pycc lsp`.

Neovim starts with `tests/nvim/init.lua`, the README's configuration, and a `pycc`
on PATH that serves the shipped model. `tests/nvim/complete.lua` opens a Python
file (the configuration starts the server), types two lines key by key
(incremental didChange), asks for completion, then completes with <C-x><C-o>
(vim.lsp.omnifunc) and accepts the first entry of the popup, and opens a second
Python file (one server must serve both). Skips where nvim is missing, except under
CI=true, where it fails (`./pycc.sh test` installs Debian's neovim).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from lsp_wire import ROOT, SHIPPED_MODEL

pytestmark = pytest.mark.slow


def require_nvim() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        reason = "nvim is not installed (Debian: apt-get install neovim; ./pycc.sh test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"the Neovim test must run under CI: {reason}")
        pytest.skip(reason)
    return nvim


def test_neovim_completes_and_accepts_with_pycc_lsp(tmp_path):
    nvim = require_nvim()
    wrapper = tmp_path / "bin" / "pycc"  # the `pycc` the configuration starts, serving the shipped model
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m pycodecomplete \"$@\" --model {SHIPPED_MODEL}\n")
    wrapper.chmod(0o755)
    project = tmp_path / "project"
    project.mkdir()
    source = project / "app.py"
    source.write_text("")
    out = tmp_path / "nvim.json"
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}",
           "PYCC_NVIM_FILE": str(source), "PYCC_NVIM_OUT": str(out),
           "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state"),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    nvim_dir = ROOT / "tests" / "nvim"
    run = subprocess.run([nvim, "--headless", "-n", "-i", "NONE", "-u", str(nvim_dir / "init.lua"),
                          "-c", f"luafile {nvim_dir / 'complete.lua'}"],
                         cwd=project, env=env, capture_output=True, timeout=180, stdin=subprocess.DEVNULL)
    result = json.loads(out.read_text()) if out.exists() else {}
    assert run.returncode == 0, (result, run.stderr.decode(errors="replace")[-2000:])
    assert result["is_incomplete"] is True
    labels = [item["label"] for item in result["items"]]
    assert "ArgumentParser" in labels, labels
    item = result["items"][labels.index("ArgumentParser")]
    assert (item["new_text"], item["start"], item["end"]) == ("ArgumentParser", 18, 21)  # replaces "Arg"
    assert item["detail"].startswith("pycc ") and item["detail"].endswith("%")
    assert result["popup"] == labels  # Neovim's own popup, in the engine's order (sortText)
    assert result["accepted_line"] == "parser = argparse." + labels[0]
    assert result["servers"] == 1 and result["second_buffer_client"] == result["first_buffer_client"]
