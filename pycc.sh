#!/usr/bin/env bash
# The front door. First use creates .venv in the checkout and installs the
# project into it; later uses reuse it. `./pycc.sh test` runs the whole suite,
# any other word goes to the `pycc` command inside the environment.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.pycc-installed"

ensure_venv() {
  # Reinstall when requirements or setup.py change, so a pull never runs stale deps.
  local want
  want="$(cat "$HERE/requirements.txt" "$HERE/setup.py" | sha256sum | cut -d' ' -f1)"
  if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then return; fi
  echo "pycc.sh: installing PyCodeComplete and its requirements into $VENV (first run downloads TensorFlow)..." >&2
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip >&2
  "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt" >&2
  if [[ "${PYCC_GPU:-0}" == "1" ]]; then
    "$VENV/bin/python" -m pip install -q "tensorflow[and-cuda]>=2.18,<2.22" >&2
  fi
  "$VENV/bin/python" -m pip install -q --no-deps -e "$HERE" >&2
  echo "$want" > "$STAMP"
}

ensure_browser() {
  # The browser tests drive Debian's chromium; Playwright must never download its own.
  if [[ ! -x /usr/bin/chromium ]] && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    echo "pycc.sh: installing Debian's chromium for the browser tests..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >&2 || \
      echo "pycc.sh: could not install chromium; browser tests will skip (fail under CI=true)" >&2
  fi
}

ensure_neovim() {
  # The language server's editor test drives Debian's neovim headless (tests/test_lsp_nvim.py).
  if ! command -v nvim >/dev/null && command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
    echo "pycc.sh: installing Debian's neovim for the language server's editor test..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq neovim) >&2 || \
      echo "pycc.sh: could not install neovim; the editor test will skip (fail under CI=true)" >&2
  fi
}

ensure_venv
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
cmd="${1:-help}"
case "$cmd" in
  test)
    shift
    ensure_browser
    ensure_neovim
    cd "$HERE"
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  help|-h|--help)
    echo "usage: ./pycc.sh serve|lsp|test|retrain|train|evaluate|complete|generate|corpus|scrape|clone ..." >&2
    exec "$VENV/bin/pycc" --help
    ;;
  *)
    exec "$VENV/bin/pycc" "$@"
    ;;
esac
