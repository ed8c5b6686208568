"""The language server's pure parts: cursor positions, size rules, items, staleness, flags."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from pycodecomplete.cli.lsp import check_url, parse_tcp
from pycodecomplete.errors import PyccError
from pycodecomplete.lsp import documents, items
from pycodecomplete.lsp.freshness import ChangeClock


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def locate(text: str, line: int, character: int):
    return documents.locate(tuple(text.splitlines(True)), line, character, utf16)


# ------------------------------------------------------------------ positions

def test_locate_finds_the_offset_and_the_line_before_the_cursor():
    text = "import argparse\nparser = argparse.Arg\n"
    cursor = locate(text, 1, 21)
    assert text[:cursor.offset] == "import argparse\nparser = argparse.Arg"
    assert cursor.line_before == "parser = argparse.Arg" and (cursor.line, cursor.character) == (1, 21)


def test_a_character_past_the_line_end_means_the_line_end():
    cursor = locate("ab\ncd\n", 0, 99)
    assert cursor.offset == 2 and cursor.character == 2 and cursor.line_before == "ab"


def test_lines_past_the_end_are_outside_the_document():
    assert locate("ab\ncd", 2, 0) is None
    assert locate("ab\ncd", 1, 2).offset == 5  # the end of a last line without a newline
    assert locate("ab\n", 1, 0).offset == 3  # the empty line after a final newline
    assert locate("ab\n", 2, 0) is None
    assert locate("", 0, 0).offset == 0 and locate("", 1, 0) is None
    assert locate("ab", -1, 0) is None and locate("ab", 0, -1) is None


def test_positions_count_utf16_units_and_never_split_a_character():
    text = 'x = "😋é"\n'  # the emoji is 2 UTF-16 units
    assert text[:locate(text, 0, 7).offset] == 'x = "😋'
    assert text[:locate(text, 0, 8).offset] == 'x = "😋é'
    assert text[:locate(text, 0, 6).offset] == 'x = "'  # inside the surrogate pair: its start


def test_crlf_line_ends_are_not_part_of_the_line():
    cursor = locate("ab\r\ncd", 0, 5)
    assert cursor.line_before == "ab" and cursor.offset == 2
    assert locate("ab\r\ncd", 1, 1).offset == 5


# ------------------------------------------------------------------ size and language

def test_clip_prefix_keeps_short_text_and_cuts_long_text_at_a_stable_line_start():
    assert documents.clip_prefix("abc", 10) == "abc"
    line = "x = 1\n"
    text = line * 5000  # 30,000 characters
    clipped = documents.clip_prefix(text, 10_000, 2_500)
    assert len(clipped) <= 10_000 and clipped.startswith("x = 1") and text.endswith(clipped)
    # typing on keeps the same start, so the engine's per-document state stays incremental
    for extra in ("y", "y = 2", "y = 2\nz"):
        longer = documents.clip_prefix(text + extra, 10_000, 2_500)
        assert longer == clipped + extra


def test_python_language_ids():
    assert all(map(documents.is_python, ["python", "Python", "python3", "python-ts"]))
    assert not any(map(documents.is_python, ["", None, "javascript", "markdown", "cython"]))


# ------------------------------------------------------------------ items

def suggestion(text, score=0.5):
    return SimpleNamespace(text=text, score=score)


def test_items_replace_the_typed_word_with_the_whole_word_in_the_engines_order():
    cursor = locate("parser = argparse.Arg", 0, 21)
    found = items.completion_items([suggestion("umentParser", 0.148), suggestion("ument", 0.07)], cursor)
    first = found[0]
    assert [i.label for i in found] == ["ArgumentParser", "Argument"]
    assert [i.sort_text for i in found] == ["00", "01"]
    assert first.text_edit.new_text == first.filter_text == "ArgumentParser"
    edit = first.text_edit.range
    assert (edit.start.line, edit.start.character, edit.end.character) == (0, 18, 21)
    assert first.detail == "pycc 14.8%"


def test_after_a_dot_or_space_the_suggestion_goes_in_as_it_is():
    for text, word in [("os.", ""), ("import ", ""), ("x = foo(", "")]:
        cursor = locate(text, 0, len(text))
        (item,) = items.completion_items([suggestion("path")], cursor)
        assert item.label == "path" and item.text_edit.range.start.character == len(text) - len(word)


def test_empty_repeated_and_multiline_suggestions():
    cursor = locate("x = ", 0, 4)
    found = items.completion_items([suggestion("  "), suggestion("1"), suggestion("1"), suggestion("2\ny")], cursor)
    assert [i.label for i in found] == ["1", "2"]


def test_inline_items_carry_the_same_text_and_range():
    cursor = locate("if __name__ == '__ma", 0, 20)
    (inline,) = items.inline_items([suggestion("in__':")], cursor)
    assert inline.insert_text == "__main__':" and inline.range.start.character == 16


def test_the_typed_word_is_ascii_identifier_characters():
    assert items.typed_word("x = foo_bar9") == "foo_bar9"
    assert items.typed_word("x = (") == "" and items.typed_word("") == ""
    assert items.typed_word("x = naïv") == "v"  # ASCII word characters only, as the engine's boundary rule


# ------------------------------------------------------------------ staleness

def test_a_change_wakes_the_requests_pending_on_its_document_only():
    async def scenario():
        clock = ChangeClock()
        clock.tick("a")
        clock.note_arrival(1, "a")
        mine, other = clock.watch("a"), clock.watch("b")
        clock.tick("a")
        assert mine.done() and not other.done()
        assert clock.arrived_at(1, "a") == 1 != clock.generation("a")
        assert clock.arrived_at(2, "a") == clock.generation("a")  # never noted: current
        clock.forget("a")
        assert clock.generation("a") == 3  # kept: a request from before a reopen stays stale
        clock.unwatch("b", other)

    asyncio.run(scenario())


# ------------------------------------------------------------------ flags

@pytest.mark.parametrize("value, expected", [
    ("8765", ("127.0.0.1", 8765)), ("0.0.0.0:1", ("0.0.0.0", 1)), ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_tcp_addresses(value, expected):
    assert parse_tcp(value) == expected


@pytest.mark.parametrize("value", ["", "host", "host:", ":80", "h:70000", "h:-1", "[::1]"])
def test_bad_tcp_addresses(value):
    with pytest.raises(PyccError, match="--tcp"):
        parse_tcp(value)


def test_server_urls():
    assert check_url("http://10.0.0.2:5000/") == "http://10.0.0.2:5000"
    for bad in ("10.0.0.2:5000", "ftp://x", "http://", "http://x/?q=1"):
        with pytest.raises(PyccError, match="--server"):
            check_url(bad)


# ------------------------------------------------------------------ logs

def test_pygls_routine_warnings_are_dropped_and_tracebacks_shortened():
    import logging

    from pycodecomplete.lsp.logs import QuietPygls

    quiet = QuietPygls()

    def record(name, message, exc_info=None):
        return logging.LogRecord(name, logging.WARNING, __file__, 1, message, (), exc_info)

    assert not quiet.filter(record("pygls.protocol.json_rpc", "Cancel notification for unknown message id \"7\""))
    assert quiet.filter(record("pycodecomplete.lsp", "Cancel notification for unknown message id"))  # ours stay
    pasted = record("pygls.protocol.json_rpc", "Unable to deserialize message\nTraceback (most recent call last):")
    assert quiet.filter(pasted) and "\n" not in pasted.getMessage()
    try:
        raise ValueError("bad body")
    except ValueError:
        import sys

        attached = record("pygls.server", "Unable to handle message", sys.exc_info())
    assert quiet.filter(attached) and attached.exc_info is None
    assert attached.getMessage() == "Unable to handle message: ValueError: bad body"
