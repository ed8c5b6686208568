"""Comment stripping keeps the code (AST, tokens, lines); chunking is lossless. Property tests."""
from __future__ import annotations

import ast
import io
import re
import tokenize

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycodecomplete.corpus.preprocess import chunk_text, parses, split_lines, strip_comments
from _gpt import tiny_texts

# ------------------------------------------------------------------ programs --
# Random programs built from pieces that are hard for a regex: '#' in every kind
# of string, comments after code, comment-only lines, backslash continuations,
# brackets over lines, docstrings, nested blocks, tabs, and no final newline.

_words = st.text(alphabet="abcxyz_#'\" \t\\{}é☃", max_size=12)
_comment = _words.map(lambda s: "#" + s.replace("\\", "").replace("\n", ""))
_name = st.sampled_from(["x", "y", "value", "_a1", "café"])


@st.composite
def _simple(draw, indent: str) -> list[str]:
    name, text, comment = draw(_name), draw(_words), draw(_comment)
    safe = text.replace("\\", "\\\\").replace('"', '\\"')
    kind = draw(st.integers(0, 11))
    if kind == 0:
        return [f'{indent}{name} = "{safe}"']
    if kind == 1:
        return [f'{indent}{name} = "# not a comment {safe}"  {comment}']
    if kind == 2:
        return [f"{indent}{name} = '#'{draw(st.sampled_from(['', '  ', chr(9)]))}{comment}"]
    if kind == 3:
        return [f'{indent}{name} = """first', f"# inside a string {safe}", f'last"""  {comment}']
    if kind == 4:
        return [f'{indent}{name} = f"{{1}} # {{{name!s}!r}}"']
    if kind == 5:
        return [f"{indent}{name} = (1,  {comment}", f"{indent}    {comment}", f"{indent}    2)"]
    if kind == 6:
        return [f"{indent}{name} = 1 + \\", f"{indent}    2  {comment}"]
    if kind == 7:
        return [f"{indent}{name} = 1 \\", f"{comment}", f"{indent}pass"]
    if kind == 8:
        return [f"{indent}{comment}"]
    if kind == 9:
        return [""]
    if kind == 10:
        return [f"{indent}{name} = [  {comment}", f"{indent}]"]
    return [f"{indent}{name} = b'\\x23 #'  {comment}"]


@st.composite
def _block(draw, indent: str, depth: int) -> list[str]:
    lines: list[str] = []
    if draw(st.booleans()):
        header = draw(st.sampled_from(["def f(a, b=1):", "class C:", "if x:", "async def g():", "for i in y:"]))
        lines.append(f"{indent}{header}  {draw(_comment)}" if draw(st.booleans()) else f"{indent}{header}")
        inner = indent + draw(st.sampled_from(["    ", "\t", "  "]))
        if header.startswith(("def", "class", "async")) and draw(st.booleans()):
            lines.append(f'{inner}"""Doc # string {draw(_words).replace(chr(92), "").replace(chr(34), "")}."""')
        body = draw(st.lists(_simple(inner) if depth >= 2 else _block(inner, depth + 1), min_size=1, max_size=3))
        body_lines = [line for part in body for line in part]
        if not any(line.strip() and not line.strip().startswith("#") for line in body_lines[-3:]) \
                or all(not line.strip() or line.strip().startswith("#") for line in body_lines):
            body_lines.append(f"{inner}pass")
        lines.extend(body_lines)
    else:
        lines.extend(draw(_simple(indent)))
    return lines


@st.composite
def programs(draw) -> str:
    head = draw(st.sampled_from(["", "#!/usr/bin/env python3\n", "# -*- coding: utf-8 -*-\n"]))
    doc = draw(st.sampled_from(["", '"""Module # doc."""\n']))
    blocks = draw(st.lists(_block("", 0), min_size=1, max_size=5))
    text = head + doc + "\n".join(line for block in blocks for line in block)
    return text + draw(st.sampled_from(["\n", "", "\n\n", "  # trailing"]))


def _code_tokens(text: str) -> list[tuple[int, str]]:
    skip = {tokenize.COMMENT, tokenize.NL}
    return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]


def _comments(text: str) -> list[str]:
    return [t.string for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT]


def _without_docstrings(tree: ast.AST) -> str:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body \
                and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
                and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
    return ast.dump(tree)


def _lines_kept_in_order(before: str, after: str) -> bool:
    """Every output line is an input line, or an input line with its comment cut off, in order."""
    source = iter(split_lines(before))
    for line in split_lines(after):
        for candidate in source:
            code = line.rstrip("\n")
            if line == candidate or (candidate.startswith(code)
                                     and candidate[len(code):].lstrip(" \t\f").startswith("#")):
                break  # the same line, or the line without its comment (an empty line after a backslash)
            if candidate.strip() and not candidate.lstrip(" \t\f").startswith("#"):
                return False  # a code line vanished
        else:
            return False
    return True


# ------------------------------------------------------------------ comments --

@settings(max_examples=200, deadline=None)
@given(programs())
def test_comment_removal_keeps_the_code(source):
    assert parses(source), source
    out = strip_comments(source)
    assert parses(out)
    assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(source))  # same program, strings untouched
    assert _code_tokens(out) == _code_tokens(source)  # every token but the comments, in order
    kept = [c for c in _comments(out)]
    assert all(c.startswith("#!") or "coding" in c for c in kept), kept
    assert out.count("\n") <= source.count("\n")
    assert _lines_kept_in_order(source, out)
    assert strip_comments(out) == out  # idempotent


@settings(max_examples=150, deadline=None)
@given(programs())
def test_docstring_removal_still_parses(source):
    out = strip_comments(source, docstrings=False)
    assert parses(out)
    assert ast.dump(ast.parse(out)) == _without_docstrings(ast.parse(source))


def test_comment_removal_examples():
    source = ('#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n"""Doc # keep."""\n'
              "# a whole-line comment\n"
              "x = '# not a comment'  # a comment\n"
              "y = 1 + \\\n"
              "    2\n"
              "z = (1,  # one\n"
              "     # between\n"
              "     2)\n"
              "def f():\n"
              '    """Only a docstring."""\n')
    assert strip_comments(source) == ('#!/usr/bin/env python\n# -*- coding: utf-8 -*-\n"""Doc # keep."""\n'
                                      "x = '# not a comment'\n"
                                      "y = 1 + \\\n"
                                      "    2\n"
                                      "z = (1,\n"
                                      "     2)\n"
                                      "def f():\n"
                                      '    """Only a docstring."""\n')
    assert strip_comments(source, docstrings=False).endswith("def f():\n    pass\n")
    assert "Doc # keep" not in strip_comments(source, docstrings=False)
    # After a backslash continuation a comment-only line stays as an empty line.
    assert strip_comments("x = 1 \\\n# c\ny = 2\n") == "x = 1 \\\n\ny = 2\n"


def test_unreadable_source_is_returned_unchanged():
    broken = "def f(:\n    x = '''never closed # c\n"
    assert strip_comments(broken) == broken


def test_corpus_files_keep_their_ast():
    removed = 0
    for text in tiny_texts():
        out = strip_comments(text)
        assert ast.dump(ast.parse(out)) == ast.dump(ast.parse(text))
        assert all(c.startswith("#!") or "coding" in c for c in _comments(out))
        removed += len(text) - len(out)
    assert removed > 1000


# ------------------------------------------------------------------ chunking --

def _char_count(text: str) -> int:
    return len(text)


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+|\s+|[^\w\s]", text))


def _check_chunks(text: str, chunks: list[str], max_tokens: int, count) -> None:
    assert "".join(chunks) == text  # lossless: newlines and indentation included
    assert all(chunks)
    position = 0
    for chunk in chunks:
        if count(chunk) > max_tokens:
            assert len(chunk) == 1  # only a single character can be over (a 4-byte one in BPE)
        if position and text[position - 1] != "\n":  # a cut inside a line...
            start = text.rfind("\n", 0, position) + 1
            end = text.find("\n", position)
            line = text[start:end + 1 if end >= 0 else len(text)]
            assert count(line) > max_tokens  # ...only where the line alone does not fit
        position += len(chunk)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=400) | programs(), st.integers(1, 40),
       st.sampled_from([_char_count, _word_count]))
def test_chunks_concatenate_back_and_fit(text, max_tokens, count):
    _check_chunks(text, chunk_text(text, max_tokens, count), max_tokens, count)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=300) | programs(), max_tokens=st.integers(4, 64))
def test_chunks_fit_the_model_context_in_tokens(tokenizer, text, max_tokens):
    chunks = chunk_text(text, max_tokens, tokenizer.count)
    _check_chunks(text, chunks, max_tokens, tokenizer.count)
    assert all(tokenizer.count(c) <= max_tokens for c in chunks)


def test_corpus_files_chunk_at_line_starts(tokenizer):
    for text in tiny_texts()[:6]:
        lines = split_lines(text)
        counts = [tokenizer.count(line) for line in lines]
        chunks = chunk_text(text, 64, tokenizer.count, line_counts=counts)
        assert chunks == chunk_text(text, 64, tokenizer.count)  # the batch counts only save work
        _check_chunks(text, chunks, 64, tokenizer.count)
        assert len(chunks) > 3


def test_split_lines_only_splits_on_newline():
    text = "a\r\nb\rc\x0cd\u2028e\n\nf"
    assert split_lines(text) == ["a\r\n", "b\rc\x0cd\u2028e\n", "\n", "f"]
    assert "".join(split_lines(text)) == text
    assert split_lines("") == []
