"""Which trigger characters help: a measurement, not a test (it prints one JSON object).

    python benchmarks/lsp_triggers.py [--model DIR] [--file tests/data/heldout/six.py]

An editor asks for completions while an identifier is typed; after any other
character it asks only if the server lists that character in
``completionProvider.triggerCharacters``. So a trigger character is worth listing
when the popup it opens is often useful. This types a held-out file through the
engine one character at a time (one cached document, as the language server does)
and, at every position, classifies the character just typed:

* ``identifier``: a letter, digit or underscore (editors ask here anyway: the baseline);
* each punctuation character, the newline, and the space, split into ``space
  (indent)`` (only spaces before it on its line) and ``space (after code)``.

For each class it reports how often the top 5 suggestions held one that is a prefix
of the text that follows (``useful_rate``: the person would accept it, as in the
keystroke-savings simulation, `ml/keystrokes.py`), and the keystrokes that accepting
the longest such suggestion saves (its length minus 1 minus its rank), per position
(``saved_per_position``). A character whose popups are useful at least about as
often as the identifier baseline's is a good trigger; one far below opens popups
that are mostly noise.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def position_class(before: str) -> str:
    char = before[-1]
    if char.isascii() and (char.isalnum() or char == "_"):
        return "identifier"
    if char == " ":
        line = before[before.rfind("\n") + 1:]
        return "space (indent)" if not line.strip() else "space (after code)"
    return {"\n": "newline", "\t": "tab"}.get(char, char)


def measure(engine, text: str, n: int = 5, identifier_every: int = 1) -> dict:
    """Per class of the character typed: positions, useful_rate, saved_per_position.

    `identifier_every`: ask at only every k-th identifier position (the baseline is
    the largest class; the engine still steps every character, in document order)."""
    from tqdm import tqdm

    stats = defaultdict(lambda: {"positions": 0, "useful": 0, "saved": 0})
    seen_identifiers = 0
    for position in tqdm(range(1, len(text)), desc="typing", unit="char", mininterval=10):
        before, rest = text[:position], text[position:]
        kind = position_class(before)
        if kind == "identifier":
            seen_identifiers += 1
            if seen_identifiers % identifier_every:
                continue
        options = [s.text for s in engine.complete(before, n=n, document="trigger-measure")]
        entry = stats[kind]
        entry["positions"] += 1
        accepted = [(len(option) - 1 - rank) for rank, option in enumerate(options) if option and rest.startswith(option)]
        if accepted:
            entry["useful"] += 1
            entry["saved"] += max(0, max(accepted))
    table = {}
    for name, entry in sorted(stats.items(), key=lambda kv: -kv[1]["positions"]):
        table[name] = {"positions": entry["positions"],
                       "useful_rate": round(entry["useful"] / entry["positions"], 3),
                       "saved_per_position": round(entry["saved"] / entry["positions"], 2)}
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "trained-models" / "default")
    parser.add_argument("--file", type=Path, default=ROOT / "tests" / "data" / "heldout" / "six.py")
    parser.add_argument("--chars", type=int, default=0, help="type only the first N characters (0: all)")
    parser.add_argument("--identifier-every", type=int, default=1, metavar="K",
                        help="ask at every K-th identifier position only (default 1: all)")
    args = parser.parse_args()
    from pycodecomplete.engine import load_engine

    text = args.file.read_text().replace("\r\n", "\n")
    if args.chars:
        text = text[:args.chars]
    engine = load_engine(args.model, None)
    table = measure(engine, text, identifier_every=args.identifier_every)
    print(json.dumps({"model": str(args.model), "file": str(args.file), "chars": len(text),
                      "identifier_every": args.identifier_every, "by_character_typed": table}, indent=1))


if __name__ == "__main__":
    main()
