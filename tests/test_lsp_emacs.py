"""Emacs with eglot, in batch mode, completes Python through `pycc lsp` with the README's configuration.

Optional: it runs where `emacs` and eglot are installed (Debian: emacs-nox and
elpa-eglot, or Emacs 29+ where eglot is built in) and skips elsewhere, CI included:
`./pycc.sh test` does not install Emacs. It keeps the README's Emacs snippet honest.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lsp_wire import SHIPPED_MODEL

pytestmark = pytest.mark.slow

# The configuration the README gives, verbatim (README_SECTION.md).
README_CONFIG = """\
(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode) . ("pycc" "lsp"))))
(add-hook 'python-mode-hook #'eglot-ensure)
"""

CHECK = """\
(package-initialize)
(require 'eglot)
(setq eglot-sync-connect 60)
(find-file (getenv "PYCC_EMACS_FILE"))
(python-mode)
(unless (eglot-current-server) (call-interactively #'eglot))  ; eglot-ensure waits for the command loop
(let ((deadline (+ (float-time) 60)))
  (while (and (not (eglot-current-server)) (< (float-time) deadline)) (accept-process-output nil 0.1)))
(princ (format "SERVER %s\\n" (plist-get (eglot--server-info (eglot-current-server)) :name)))
(goto-char (point-max))
(insert "import argparse\\nparser = argparse.Arg")
(eglot--signal-textDocument/didChange)  ; batch mode has no idle timers to send it
(let* ((capf (eglot-completion-at-point))
       (start (nth 0 capf)) (end (nth 1 capf))
       (candidates (all-completions (buffer-substring-no-properties start end) (nth 2 capf)))
       (exit (plist-get (nthcdr 3 capf) :exit-function)))
  (princ (format "CANDIDATES %s\\n" (mapconcat #'substring-no-properties candidates " ")))
  (delete-region start end)
  (goto-char start)
  (insert (car candidates))  ; accept the first, as completion-at-point does
  (when exit (funcall exit (car candidates) 'finished))
  (princ (format "LINE %s\\n" (buffer-substring-no-properties (line-beginning-position) (line-end-position)))))
(eglot-shutdown (eglot-current-server))
"""


def test_emacs_eglot_completes_with_the_readme_configuration(tmp_path):
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("emacs is not installed (optional; Debian: emacs-nox elpa-eglot)")
    probe = subprocess.run([emacs, "--batch", "-q", "--eval", "(progn (package-initialize) (require 'eglot))"],
                           capture_output=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("eglot is not available to emacs (optional; Debian: elpa-eglot)")
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=30)  # eglot wants a project
    source = project / "app.py"
    source.write_text("")
    wrapper = tmp_path / "bin" / "pycc"  # `pycc` on PATH, serving the shipped model
    wrapper.parent.mkdir()
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m pycodecomplete \"$@\" --model {SHIPPED_MODEL}\n")
    wrapper.chmod(0o755)
    script = tmp_path / "check.el"
    script.write_text(README_CONFIG + CHECK)
    env = {**os.environ, "PATH": f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}", "HOME": str(tmp_path),
           "PYCC_EMACS_FILE": str(source)}
    run = subprocess.run([emacs, "--batch", "-q", "-l", str(script)], cwd=project, env=env, capture_output=True,
                         text=True, timeout=180, stdin=subprocess.DEVNULL)
    out = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]
    assert "SERVER pycc-lsp" in out, (out, run.stderr[-3000:])
    candidates = re.search(r"^CANDIDATES (.*)$", out, re.M).group(1).split()
    assert "ArgumentParser" in candidates
    assert re.search(r"^LINE (.*)$", out, re.M).group(1) == "parser = argparse." + candidates[0]
