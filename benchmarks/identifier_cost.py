"""What the identifier cache costs a keystroke: the engine's lookup against scanning every word.

Types held-out files character by character and, at each keystroke inside a word,
times `engine.identifiers.candidates` side by side with the first implementation
(a Python loop over every identifier of the window, kept here as the reference).
Both must give the same candidates (checked); prints one JSON object.

    python benchmarks/identifier_cost.py --data data/heldout/six --data data/heldout/attrs --max-chars 20000
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycodecomplete.corpus import read_sources  # noqa: E402
from pycodecomplete.engine import identifiers  # noqa: E402

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def scan_every_word(text: str, prefix: str) -> dict[str, float]:
    """The first implementation (document only), minus its `x1f`-of-`0x1f` words."""
    window = text[-identifiers.WINDOW:]
    end = len(window) - len(prefix)
    weights, nearest = defaultdict(float), {}
    for match in _WORD.finditer(window, 0, max(0, end)):
        word = match.group(0)
        if len(word) > len(prefix) and word.startswith(prefix) and not window[match.start() - 1:match.start()].isdigit():
            weights[word] += 1.0
            nearest[word] = end - match.end()
    for word in list(weights):
        weights[word] *= 1.0 + 1.0 / (1.0 + nearest[word] / 1000.0)
    total = sum(weights.values())
    return {word[len(prefix):]: w / total for word, w in weights.items()} if total else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--max-chars", type=int, default=20000, help="characters typed per data path")
    args = parser.parse_args()
    times = {"engine": [], "scan_every_word": []}
    for data in args.data:
        text = "".join(f.text for f in read_sources([data]))[:args.max_chars]
        for cut in range(1, len(text) + 1):
            before = text[:cut]
            prefix = identifiers.typed_word(before)
            if not prefix:
                continue
            got = {}
            for name, lookup in (("engine", identifiers.candidates), ("scan_every_word", scan_every_word)):
                started = time.perf_counter()
                got[name] = lookup(before, prefix)
                times[name].append(time.perf_counter() - started)
            if got["engine"].keys() != got["scan_every_word"].keys():
                raise SystemExit(f"different candidates at character {cut} of {data}: {prefix!r}")
    summary = {name: {"keystrokes": len(t), "ms_p50": round(1e3 * statistics.median(t), 4),
                      "ms_mean": round(1e3 * statistics.fmean(t), 4)} for name, t in times.items()}
    print(json.dumps({"machine": {"platform": platform.platform(), "processor": platform.processor(),
                                  "cpus": os.cpu_count(), "load": os.getloadavg()},
                      "data": args.data, "max_chars": args.max_chars, **summary,
                      "scan_over_engine_p50": round(summary["scan_every_word"]["ms_p50"]
                                                    / summary["engine"]["ms_p50"], 1)}, indent=1))


if __name__ == "__main__":
    main()
