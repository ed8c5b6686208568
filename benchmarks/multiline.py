"""Is the multi-line setting worth turning on? Block bodies typed with and without it, side by side.

    python benchmarks/multiline.py --model trained-models/default --model trained-models/gpt2-cpu \\
        --data data/heldout/six --data data/heldout/attrs --max-openers 60

At the end of every line that opens a block (`engine.multiline.block_indent`) in the
held-out files, the body that really follows (its lines up to the first blank line
or the first line back at the opener's level, at most 6, as the setting's own
stopping rules) is typed twice, keystrokes counted as `ml/keystrokes.py` does:

* **one line**: the popup's suggestions only (`multiline` off), from the opener's end;
* **ghost text**: at the opener's end the engine's multi-line suggestion is shown
  first, as an inline client shows it. A person accepts its whole body with one key
  when all of it is right, or its first right lines with one key per line (VS Code's
  and Neovim's accept-line); if not even its first line is right they ignore it.
  From there on, typing goes on with the popup's one-line suggestions.

Reports, per model: body characters, keystroke savings in the bodies both ways and
the difference in points, how many openers got a body, how many bodies were right
whole and how many lines were right, and the time a body costs against a one-line
answer (p50, in-process, no HTTP). One JSON object on stdout.
"""
from __future__ import annotations

import statistics
import time

from _side_by_side import main

from pycodecomplete.engine.multiline import block_indent
from pycodecomplete.ml.keystrokes import simulate

MAX_LINES = 6


def openers(text: str) -> list[tuple[int, str]]:
    """(offset of an opener line's end, the body that follows it: "\\n" + lines) for each block opener."""
    out, offset = [], 0
    lines = text.split("\n")
    for i, line in enumerate(lines):
        end = offset + len(line)
        offset = end + 1
        indent = block_indent(text[:end])
        if indent is None:
            continue
        body = []
        for nxt in lines[i + 1:i + 1 + MAX_LINES]:
            if not nxt.strip() or len(nxt) - len(nxt.lstrip()) < len(indent):
                break
            body.append(nxt)
        if body:
            out.append((end, "\n" + "\n".join(body)))
    return out


def accept_lines(block: str, body: str) -> tuple[int, int]:
    """(characters accepted, keys spent) for a ghost `block` against the real `body`."""
    if body.startswith(block):
        return len(block), 1
    taken = keys = 0
    for line in block.split("\n")[1:]:
        piece = "\n" + line
        if not body[taken:].startswith(piece):
            break
        taken += len(piece)
        keys += 1
    return taken, keys


def run(engine, files, max_openers: int) -> dict:
    single_keys = ghost_keys = chars = offered = whole = lines_right = 0
    block_ms, line_ms = [], []
    done = 0
    for index, f in enumerate(files):
        for end, body in openers(f.text):
            if done >= max_openers:
                break
            done += 1
            prefix, document = f.text[:end], f"multiline-{index}"

            def suggest(typed: str) -> list[str]:
                return [s.text for s in engine.complete(prefix + typed, n=5, document=document, multiline=False)]

            started = time.perf_counter()
            suggest("")
            line_ms.append((time.perf_counter() - started) * 1000)
            chars += len(body)
            single = simulate(body, suggest)["keystrokes"]
            single_keys += single
            started = time.perf_counter()
            first = engine.complete(prefix, n=5, document=document, multiline=True)
            block_ms.append((time.perf_counter() - started) * 1000)
            block = first[0].text if first and "\n" in first[0].text else None
            taken, keys = accept_lines(block, body) if block else (0, 0)
            offered += block is not None
            whole += block is not None and taken == len(block)
            lines_right += body[:taken].count("\n")
            if taken:
                rest = simulate(body[taken:], lambda typed: suggest(body[:taken] + typed))["keystrokes"]
                ghost_keys += keys + rest
            else:  # nothing right: the ghost is ignored, typing is as without it
                ghost_keys += single
    return {"openers": done, "body_chars": chars, "bodies_offered": offered, "bodies_right_whole": whole,
            "lines_right": lines_right,
            "savings_one_line": round(1 - single_keys / max(1, chars), 4),
            "savings_ghost_text": round(1 - ghost_keys / max(1, chars), 4),
            "gain_points": round(100 * (single_keys - ghost_keys) / max(1, chars), 2),
            "ms_p50_body": round(statistics.median(block_ms), 2) if block_ms else None,
            "ms_p50_one_line": round(statistics.median(line_ms), 2) if line_ms else None}


def add_arguments(parser) -> None:
    parser.add_argument("--max-openers", type=int, default=60, help="block openers per model (the first ones)")


if __name__ == "__main__":
    main(__doc__, add_arguments, lambda engine, files, args: run(engine, files, args.max_openers))
