"""The edit benchmark for several models, side by side in one run (`ml/edits.py`).

    python benchmarks/edits.py --model trained-models/default --model trained-models/gpt2-cpu \\
        --data data/heldout/six --data data/heldout/attrs/attr --max-spans 60

Prints one JSON object: per model, keystroke savings on the retyped spans with the
suffix sent and without it, the difference, and how many offered suggestions
repeated text of the suffix (0 expected with the suffix sent).
"""
from __future__ import annotations

from _side_by_side import main

from pycodecomplete.ml.edits import simulate_edits


def add_arguments(parser) -> None:
    parser.add_argument("--max-spans", type=int, default=60, help="spans retyped per model (the first ones)")


def run_model(engine, files, args) -> dict:
    row = simulate_edits(engine, files, max_spans=args.max_spans, progress=False)
    row["gain_points"] = round(100 * (row["with_suffix"]["keystroke_savings"]
                                      - row["without_suffix"]["keystroke_savings"]), 2)
    return row


if __name__ == "__main__":
    main(__doc__, add_arguments, run_model)
