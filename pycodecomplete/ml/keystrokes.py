"""Keystroke savings: simulate a person typing files with the completion engine.

At every position the engine offers up to `n` suggestions. If some suggestions are
prefixes of the text still to type, the person accepts the longest of them, which
costs 1 keystroke for the first suggestion in the list plus 1 for each place
further down, and jumps past the accepted text. Otherwise they type one character.
The simulation is deterministic: the engine's beam search is, and nothing samples.
"""
from __future__ import annotations

from typing import Callable, Sequence

from tqdm import tqdm


def simulate(text: str, suggest: Callable[[str], Sequence[str]], n: int = 5) -> dict:
    """Type `text` with `suggest(prefix) -> suggestions`; count keystrokes."""
    position = keystrokes = accepted = accepted_chars = offered = 0
    while position < len(text):
        remaining = text[position:]
        options = list(suggest(text[:position]))[:n]
        offered += bool(options)
        best = None
        for rank, option in enumerate(options):
            if option and remaining.startswith(option) and (best is None or len(option) > len(best[1])):
                best = (rank, option)
        if best is None:
            keystrokes += 1
            position += 1
            continue
        rank, option = best
        keystrokes += 1 + rank
        accepted += 1
        accepted_chars += len(option)
        position += len(option)
    return {"chars": len(text), "keystrokes": keystrokes, "accepted": accepted,
            "accepted_chars": accepted_chars, "offered": offered}


def summarize(counts: list[dict]) -> dict:
    chars = sum(c["chars"] for c in counts)
    keystrokes = sum(c["keystrokes"] for c in counts)
    accepted = sum(c["accepted"] for c in counts)
    offered = sum(c["offered"] for c in counts)
    return {
        "keystroke_savings": 1 - keystrokes / chars if chars else 0.0,
        "keystrokes": keystrokes,
        "keystroke_chars": chars,
        "acceptance_rate": accepted / offered if offered else 0.0,
        "accepted": accepted,
        "mean_accepted_length": sum(c["accepted_chars"] for c in counts) / accepted if accepted else 0.0,
    }


def simulate_files(engine, files, n: int = 5, progress: bool = True) -> dict:
    """Type each file with `engine` (any family's `Engine`), one cached document per file."""
    counts = []
    bar = tqdm(total=sum(len(f.text) for f in files), desc="typing", unit="char", disable=not progress)
    for index, f in enumerate(files):
        document = f"keystrokes-{index}"

        def suggest(prefix: str) -> list[str]:
            return [s.text for s in engine.complete(prefix, n=n, document=document)]

        counts.append(simulate(f.text, suggest, n=n))
        bar.update(len(f.text))
    bar.close()
    return summarize(counts)
