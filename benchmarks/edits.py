"""The edit benchmark for several models, side by side in one run (`ml/edits.py`).

    python benchmarks/edits.py --model trained-models/default --model trained-models/gpt2-cpu \\
        --data data/heldout/six --data data/heldout/attrs/attr --max-spans 60

Prints one JSON object: per model, keystroke savings on the retyped spans with the
suffix sent and without it, the difference, and how many offered suggestions
repeated text of the suffix (0 expected with the suffix sent).
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
from pycodecomplete.ml.edits import simulate_edits  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--data", action="append", required=True)
    parser.add_argument("--max-spans", type=int, default=60, help="spans retyped per model (the first ones)")
    args = parser.parse_args()
    files = read_sources(args.data)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
              "data": args.data, "models": {}}
    for model in args.model:
        started = time.perf_counter()
        row = simulate_edits(load_engine(model), files, max_spans=args.max_spans, progress=False)
        row["gain_points"] = round(100 * (row["with_suffix"]["keystroke_savings"]
                                          - row["without_suffix"]["keystroke_savings"]), 2)
        row["seconds"] = round(time.perf_counter() - started, 1)
        result["models"][model] = row
    result["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
