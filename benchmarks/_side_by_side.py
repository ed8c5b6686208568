"""The frame of a benchmark that runs models one after another on the same held-out files.

`main(doc, add_arguments, run_model)`: parses `--model` (repeatable), `--data`
(repeatable) and the benchmark's own flags, runs `run_model(engine, files, args)`
for each model, and prints one JSON object with the machine, its load before and
after, and each model's row (with the seconds it took).
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


def main(doc: str, add_arguments, run_model) -> None:
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--model", action="append", required=True, help="a model directory (repeatable)")
    parser.add_argument("--data", action="append", required=True, help="held-out .py files or directories")
    add_arguments(parser)
    args = parser.parse_args()
    files = read_sources(args.data)
    result = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_before": os.getloadavg()},
              "data": args.data, "models": {}}
    for model in args.model:
        started = time.perf_counter()
        row = run_model(load_engine(model), files, args)
        row["seconds"] = round(time.perf_counter() - started, 1)
        result["models"][model] = row
    result["machine"]["load_after"] = os.getloadavg()
    print(json.dumps(result, indent=1))
