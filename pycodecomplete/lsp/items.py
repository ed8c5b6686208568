"""The engine's suggestions as LSP completion items and inline (ghost-text) items.

A suggestion continues the text at the cursor (``argparse.Arg`` -> ``umentParser``).
Editors filter and replace by the word being typed, so each item carries the whole
word: its edit replaces the identifier prefix already typed (``Arg``) with the
prefix plus the suggestion (``ArgumentParser``). The popup shows, filters and
inserts ``ArgumentParser``; after a ``.`` or a space nothing is typed yet and the
suggestion goes in as it is.

* ``sortText`` is the engine's rank (``00``, ``01``...), so editors keep its order
  instead of sorting alphabetically;
* ``detail`` shows the model's probability of the suggestion;
* the list is ``isIncomplete``, so the editor asks again as the person types rather
  than filtering a stale list (the engine's answer changes with every character).

The same suggestions serve ``textDocument/inlineCompletion`` (LSP 3.18): each is an
`InlineCompletionItem` with the same replace range. Where the cursor is not inside
a word the engine suggests the rest of the line, which is what ghost text shows.
"""
from __future__ import annotations

import re
from typing import Iterable

from lsprotocol import types

from pycodecomplete.lsp.documents import Cursor

# The characters the engine treats as part of a word (its boundary rule): ASCII
# identifier characters and digits.
_TYPED_WORD = re.compile(r"[A-Za-z0-9_]*\Z")


def typed_word(line_before: str) -> str:
    """The identifier (or number) typed right before the cursor: ``Arg`` in ``argparse.Arg``."""
    return _TYPED_WORD.search(line_before).group()


def replace_range(cursor: Cursor, word: str) -> types.Range:
    """From the start of the typed word to the cursor, on the cursor's line.

    The word is ASCII, so its length is the same in every position encoding."""
    return types.Range(start=types.Position(line=cursor.line, character=cursor.character - len(word)),
                       end=types.Position(line=cursor.line, character=cursor.character))


def _whole_texts(suggestions: Iterable, word: str) -> list[tuple[str, float]]:
    """(typed word + suggestion, score), without empty or repeated texts, in the engine's order."""
    seen, out = set(), []
    for suggestion in suggestions:
        text = suggestion.text.split("\n", 1)[0]  # an item edits one line
        whole = word + text
        if not text.strip() or whole in seen:
            continue
        seen.add(whole)
        out.append((whole, float(suggestion.score)))
    return out


def completion_items(suggestions: Iterable, cursor: Cursor) -> list[types.CompletionItem]:
    word = typed_word(cursor.line_before)
    edit_range = replace_range(cursor, word)
    return [
        types.CompletionItem(
            label=whole,
            kind=types.CompletionItemKind.Text,
            detail=f"pycc {score:.1%}",
            sort_text=f"{rank:02d}",
            filter_text=whole,
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=edit_range, new_text=whole),
        )
        for rank, (whole, score) in enumerate(_whole_texts(suggestions, word))
    ]


def inline_items(suggestions: Iterable, cursor: Cursor) -> list[types.InlineCompletionItem]:
    word = typed_word(cursor.line_before)
    edit_range = replace_range(cursor, word)
    return [types.InlineCompletionItem(insert_text=whole, filter_text=whole, range=edit_range)
            for whole, _ in _whole_texts(suggestions, word)]
