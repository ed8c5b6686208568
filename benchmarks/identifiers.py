"""Keystroke savings with the identifier cache at several weights, side by side in one run.

For each model and each `identifier_weight`, types the same held-out files with
the engine (`ml/keystrokes.py`: 5 suggestions, the longest matching one accepted)
and prints one JSON object with the savings and their difference to weight 0.

    python benchmarks/identifiers.py --model trained-models/default --model trained-models/gpt2-cpu \\
        --data data/heldout/six --data data/heldout/attrs --max-chars 6000 --weights 0,0.1,0.2,0.35
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pycodecomplete.corpus import read_sources  # noqa: E402
from pycodecomplete.engine import load_engine  # noqa: E402
from pycodecomplete.ml.keystrokes import simulate_files  # noqa: E402


def first_chars(files, limit: int):
    """The files in order, cut to `limit` characters in all (as `pycc evaluate --max-chars`)."""
    kept, total = [], 0
    for f in files:
        if total >= limit:
            break
        take = f.text[:limit - total]
        kept.append(type(f)(f.root, f.path, take, f.split))
        total += len(take)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--max-chars", type=int, default=6000, help="characters typed per data path")
    parser.add_argument("--weights", default="0,0.1,0.2,0.35")
    args = parser.parse_args()
    weights = [float(w) for w in args.weights.split(",")]
    files = [f for data in args.data for f in first_chars(read_sources([data]), args.max_chars)]
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                          "load_before": os.getloadavg()},
              "data": args.data, "chars": sum(len(f.text) for f in files), "models": {}}
    for model in args.model:
        rows = {}
        for weight in weights:
            started = time.perf_counter()
            engine = load_engine(model, {"identifier_weight": weight})
            rows[str(weight)] = {**simulate_files(engine, files, progress=False),
                                 "seconds": round(time.perf_counter() - started, 1)}
        base = rows[str(weights[0])]["keystroke_savings"]
        for row in rows.values():
            row["gain_points"] = round(100 * (row["keystroke_savings"] - base), 2)
        result["models"][model] = rows
    result["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
