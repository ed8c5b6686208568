"""The editor in a real browser: Debian's chromium, driven by Playwright, against a live gunicorn.

Skips where chromium or Playwright is missing, except under CI=true, where it fails.
Playwright never downloads a browser here (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
POPUP = "#at-view-pycc"
CHOSEN = f"{POPUP} li.cur .pycc-text"


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run under CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(args: list[str], env: dict | None = None):
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--port", str(port), *args],
                               cwd=ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{base}/api/health", timeout=5).raise_for_status()
            return process, base
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"server did not start:\n{process.communicate()[0]}")
            time.sleep(0.1)


def _stop(process) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def model_server(random_model_dir):
    process, base = _serve(["--model", str(random_model_dir)])
    yield base
    _stop(process)


@pytest.fixture(scope="module")
def stub_server():
    """Serves tests/stub_engine.py: HTML suggestions, and a slow answer for text ending in 'slow'."""
    env = {"PYCC_ENGINE_FACTORY": "stub_engine:create_engine",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    process, base = _serve([], env)
    yield base
    _stop(process)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed ({exc})")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.dialogs = []
    page.console_errors = []
    page.completion_requests = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("console", lambda msg: msg.type == "error" and page.console_errors.append(msg.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.on("request", lambda r: r.url.endswith("/api/complete") and page.completion_requests.append(r.post_data))
    yield page
    page.close()


def editor_value(page) -> str:
    return page.input_value("#editor")


def open_editor(page, base: str) -> None:
    page.goto(base + "/")
    page.click("#editor")


def wait_for_popup(page, settle_ms: int = 300):
    page.wait_for_selector(POPUP, state="visible", timeout=15_000)
    page.wait_for_timeout(settle_ms)  # let the last keystroke's answer land
    page.wait_for_selector(POPUP, state="visible", timeout=15_000)


def test_type_see_popup_accept_with_tab(page, model_server):
    open_editor(page, model_server)
    page.keyboard.type("import o", delay=40)
    wait_for_popup(page)
    chosen = page.text_content(CHOSEN)
    assert chosen
    page.keyboard.press("Tab")
    assert editor_value(page) == "import o" + chosen
    assert page.text_content("#model-name") == "random-tiny"
    assert " ms" in page.text_content("#latency")
    assert page.evaluate("document.getElementById('editor').selectionStart") == len("import o" + chosen)
    assert not page.console_errors and not page.dialogs


def test_an_accepted_suggestion_is_undone_like_typing(page, model_server):
    open_editor(page, model_server)
    page.keyboard.type("import o", delay=40)
    wait_for_popup(page)
    chosen = page.text_content(CHOSEN)
    page.keyboard.press("Tab")
    assert editor_value(page) == "import o" + chosen
    page.keyboard.press("Escape")
    page.keyboard.press("Control+z")  # takes back the accepted text, not the whole buffer
    assert editor_value(page) == "import o"
    assert page.evaluate("document.getElementById('editor').selectionStart") == len("import o")
    page.keyboard.press("Control+Shift+z")
    assert editor_value(page) == "import o" + chosen
    assert not page.console_errors and not page.dialogs


def test_down_and_enter_accept_the_second_and_esc_dismisses(page, model_server):
    open_editor(page, model_server)
    page.keyboard.type("def f(x):", delay=40)
    wait_for_popup(page)
    assert page.locator(f"{POPUP} li").count() >= 2
    second = page.text_content(f"{POPUP} li:nth-child(2) .pycc-text")
    page.keyboard.press("ArrowDown")
    assert page.text_content(CHOSEN) == second
    page.keyboard.press("Enter")
    assert editor_value(page) == "def f(x):" + second  # accepted, and no newline typed

    page.keyboard.type(" #", delay=40)
    wait_for_popup(page)
    before = editor_value(page)
    page.keyboard.press("Escape")
    page.wait_for_timeout(400)
    assert not page.is_visible(POPUP) and editor_value(page) == before
    page.keyboard.press("Tab")  # no suggestion open: Tab indents
    assert editor_value(page) == before + "    "


def test_requests_are_debounced(page, model_server):
    open_editor(page, model_server)
    page.keyboard.type("import collections", delay=5)
    wait_for_popup(page)
    assert len(page.completion_requests) <= 4  # 18 keystrokes, a handful of requests


def test_html_suggestion_is_shown_as_text_and_runs_nothing(page, stub_server):
    from stub_engine import HTML_SUGGESTION, SNEAKY_SUGGESTION

    open_editor(page, stub_server)
    page.keyboard.type("x = ", delay=40)
    wait_for_popup(page)
    shown = page.eval_on_selector_all(f"{POPUP} .pycc-text", "nodes => nodes.map(n => n.textContent)")
    assert shown[:2] == [HTML_SUGGESTION, SNEAKY_SUGGESTION]
    assert "</li><li>split" in shown  # one item, not two
    assert page.locator("img").count() == 0
    page.keyboard.press("Enter")
    assert editor_value(page) == "x = " + HTML_SUGGESTION
    page.wait_for_timeout(500)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert page.text_content("#model-name") == "stub-model"


def test_a_late_answer_to_an_old_keystroke_is_never_shown(page, stub_server):
    open_editor(page, stub_server)
    page.evaluate("""() => {
        window.__seen = [];
        new MutationObserver(() => document.querySelectorAll('.atwho-view .pycc-text')
            .forEach(node => window.__seen.push(node.textContent)))
            .observe(document.body, {childList: true, subtree: true, characterData: true});
    }""")
    page.keyboard.type("go slow", delay=20)
    page.wait_for_timeout(250)  # the request for "go slow" is out; the server takes 1.5 s
    page.keyboard.type("!", delay=20)
    wait_for_popup(page, settle_ms=2500)  # long enough for the slow answer to come back
    assert any('"text":"go slow"' in (body or "") for body in page.completion_requests)
    seen = page.evaluate("window.__seen")
    assert "fresh" in seen and "STALE-ANSWER" not in seen
    assert "STALE-ANSWER" not in page.text_content(POPUP)
