"""Record what the shipped models answer for fixed prompts (tests/data/shipped_answers.json).

Run once before a refactor that must not change behaviour; `test_shipped_answers.py`
then checks that every shipped model still gives the same suggestions and scores.

    .venv/bin/python tests/record_shipped_answers.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

PROMPTS = [
    "import ",
    "import os\nos.pa",
    "def __init__(self",
    "class Foo(object):\n    def __init__(self, name):\n        self.",
    "for i in range(",
    "x = \"hello wor",
    "except Imp",
    "",
    "    return sel",
    "from collections import Ord",
    "if __name__ == ",
    "import numpy as np\narr = np.zeros((3, 4))\narr.",
]
GENERATE = [("def ", 40, 7), ("import ", 30, 11)]


def answers(engine) -> dict:
    out = {"complete": [], "document": [], "generate": []}
    for prompt in PROMPTS:
        out["complete"].append([[s.text, s.score] for s in engine.complete(prompt, n=5)])
    # The same prompts typed into one cached document: answers must not depend on the cache.
    text = ""
    for prompt in PROMPTS[:6]:
        text += prompt
        out["document"].append([[s.text, s.score] for s in engine.complete(text, n=5, document="doc")])
    for prompt, chars, seed in GENERATE:
        out["generate"].append("".join(engine.generate(prompt, chars=chars, temperature=0.8, seed=seed)))
    return out


def main() -> None:
    from pycodecomplete.engine import load_engine

    record = {"prompts": PROMPTS, "generate": GENERATE, "models": {}}
    for name in ("default", "gpt2-cpu"):
        engine = load_engine(HERE.parent / "trained-models" / name)
        record["models"][name] = answers(engine)
    (HERE / "data" / "shipped_answers.json").write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
