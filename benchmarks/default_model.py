"""The default-model rule, applied to the shipped models: prints the table and the choice as one JSON object.

Each model's figures come from its `metrics.json`: the held-out keystroke savings
(`heldout_keystrokes`, from `benchmarks/quality.py` or `pycc evaluate --keystrokes`)
and the serving measurement (`serving`, from `benchmarks/latency.py --record`). The
rule itself is `pycodecomplete.defaults`.

    python benchmarks/default_model.py [--root trained-models]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from pycodecomplete.defaults import LATENCY_TARGETS, rule_table
from pycodecomplete.paths import shipped_models_root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=shipped_models_root(), help="the shipped models' directory")
    args = parser.parse_args()
    table = rule_table(args.root)
    print(json.dumps({"benchmark": "default_model", "targets": LATENCY_TARGETS, "table": table,
                      "chosen": next((row["model"] for row in table if row["chosen"]), None)}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
