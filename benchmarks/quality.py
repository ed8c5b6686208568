"""Quality of one or more model directories, as users feel it; prints one JSON object.

For each model: bpc/top1/top5 on its validation split and on held-out code, keystroke
savings on the held-out code, and (with --contexts) the same figures for each
inference context. Used to write trained-models/README.md.

    python benchmarks/quality.py --model trained-models/default \\
        --heldout data/heldout/six --heldout data/heldout/attrs \\
        [--val-chars 300000] [--keystroke-chars 20000] [--contexts document,window:100,window:400 \\
         --context-chars 5000]

Held-out packages are fetched with `pip download --no-deps six==1.17.0 attrs==25.4.0`
and unzipped; see trained-models/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from pycodecomplete.ml.evaluate import evaluate  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--heldout", action="append", required=True, help="held-out .py file or directory")
    parser.add_argument("--val-chars", type=int, default=None, help="cap on validation characters")
    parser.add_argument("--heldout-chars", type=int, default=None, help="cap on held-out characters for bpc")
    parser.add_argument("--keystroke-chars", type=int, default=20000)
    parser.add_argument("--contexts", default="", help="comma-separated contexts to compare (bpc + keystrokes)")
    parser.add_argument("--context-chars", type=int, default=5000)
    parser.add_argument("--skip-validation", action="store_true")
    args = parser.parse_args()

    report = {}
    for model in args.model:
        started = time.perf_counter()
        entry = {}
        if not args.skip_validation:
            entry["validation"] = evaluate(model, None, max_chars=args.val_chars)
        entry["heldout"] = evaluate(model, args.heldout, max_chars=args.heldout_chars)
        if args.keystroke_chars:
            entry["heldout_keystrokes"] = evaluate(model, args.heldout, max_chars=args.keystroke_chars,
                                                   keystrokes=True)
        for context in filter(None, args.contexts.split(",")):
            entry[f"context {context}"] = evaluate(model, args.heldout, max_chars=args.context_chars,
                                                   keystrokes=True, context=context)
        entry["elapsed_s"] = round(time.perf_counter() - started, 1)
        report[model] = entry
    print(json.dumps(report, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
