"""The editor in a real browser: Debian's chromium, driven by Playwright, against a live gunicorn.

Skips where chromium or Playwright is missing, except under CI=true, where it fails.
Playwright never downloads a browser here (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1).
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from _serving import start_server, stop_server

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


@pytest.fixture(scope="module")
def model_server(random_model_dir):
    process, base = start_server(["--model", str(random_model_dir), "--no-telemetry"])
    yield base
    stop_server(process)


TOKEN = "browser-token-0123456789abcdef"


@pytest.fixture(scope="module")
def token_server(random_model_dir, tmp_path_factory):
    """A server that needs a token and records acceptance events in a temporary database."""
    folder = tmp_path_factory.mktemp("token-server")
    (folder / "tokens").write_text(TOKEN + "\n")
    url = f"sqlite:///{folder / 'events.sqlite'}"
    process, base = start_server(["--model", str(random_model_dir), "--token-file", str(folder / "tokens"), "--db", url])
    yield base, url
    stop_server(process)


@pytest.fixture(scope="module")
def stub_server():
    """Serves tests/stub_engine.py: HTML suggestions, and a slow answer for text ending in 'slow'."""
    env = {"PYCC_ENGINE_FACTORY": "stub_engine:create_engine",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    process, base = start_server(["--no-telemetry"], env)
    yield base
    stop_server(process)


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
    page.evaluate("""() => { window.__inputs = [];
        document.getElementById('editor').addEventListener('input', () => window.__inputs.push(performance.now())); }""")
    page.keyboard.type("import collections", delay=5)
    wait_for_popup(page)
    # A request may follow only a pause of about the debounce time. Typing 5 ms apart
    # leaves few such pauses, but a loaded machine can stall the browser between two
    # keys, so count the pauses that happened rather than assume them (half the debounce
    # time counts, for timer slack). Without debouncing this is 18 requests.
    debounce_ms = float(page.get_attribute("#editor", "data-debounce-ms"))
    inputs = page.evaluate("window.__inputs")
    assert len(inputs) == len("import collections")
    pauses = sum(later - earlier >= debounce_ms / 2 for earlier, later in zip(inputs, inputs[1:]))
    assert len(page.completion_requests) <= 1 + pauses


def test_the_text_after_the_caret_is_sent_as_the_suffix(page, stub_server):
    import json

    open_editor(page, stub_server)
    page.keyboard.type("print()", delay=40)
    page.keyboard.press("ArrowLeft")  # the caret between the brackets, as an editor leaves it
    page.keyboard.type("x", delay=40)
    wait_for_popup(page)
    sent = [json.loads(body) for body in page.completion_requests if body]
    assert {"text": "print(x", "suffix": ")"} in [{"text": b["text"], "suffix": b["suffix"]} for b in sent]


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


def test_the_editor_asks_for_the_token_once_and_keeps_it_in_the_tab(browser, token_server):
    from pycodecomplete.telemetry import EventStore

    base, events_db = token_server
    context = browser.new_context()
    page = context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    page.on("console", lambda msg: msg.type == "error" and "401" not in msg.text and page.console_errors.append(msg.text))
    page.goto(base + "/")
    page.wait_for_selector("#token-form", state="visible")
    page.fill("#token-input", "not-the-token-000000000000")
    page.press("#token-input", "Enter")
    page.click("#editor")
    page.keyboard.type("import o", delay=40)
    page.wait_for_selector("#token-form", state="visible", timeout=15_000)  # refused: asked again
    assert "not accepted" in page.text_content("#token-message")
    assert page.evaluate("sessionStorage.getItem('pycc-token')") is None
    page.fill("#token-input", TOKEN)
    page.press("#token-input", "Enter")
    assert not page.is_visible("#token-form")
    page.click("#editor")
    page.keyboard.type("\n", delay=40)
    page.keyboard.type("import o", delay=40)
    wait_for_popup(page)
    chosen = page.text_content(CHOSEN)
    page.keyboard.press("Tab")
    assert editor_value(page).endswith("import o" + chosen)
    # Kept for this tab only: not in localStorage, not in a cookie, not in the page's HTML.
    assert page.evaluate("sessionStorage.getItem('pycc-token')") == TOKEN
    assert page.evaluate("localStorage.length") == 0 and page.evaluate("document.cookie") == ""
    assert TOKEN not in page.content()
    page.reload()  # the same tab: not asked again
    page.wait_for_selector("#editor")
    page.wait_for_timeout(300)
    assert not page.is_visible("#token-form")
    other = context.new_page()  # a new tab of the same browser: its own session, asked again
    other.goto(base + "/")
    other.wait_for_selector("#token-form", state="visible")
    other.close()
    # The events of this session reached the database: what was shown and accepted, not the code.
    deadline = time.monotonic() + 15
    store = EventStore.open(events_db)
    try:
        while time.monotonic() < deadline:
            kinds = [row for row in store.stats() if row["model"] == "random-tiny"]
            if kinds and kinds[0]["accepted"] >= 1:
                break
            page.wait_for_timeout(250)
        (row,) = kinds
        assert row["shown"] >= 1 and row["accepted"] == 1 and row["mean_accepted_length"] == len(chosen)
    finally:
        store.close()
    assert not page.console_errors
    context.close()
