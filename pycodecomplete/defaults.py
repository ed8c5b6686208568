"""Which shipped model `pycc` serves when no `--model` is named: a rule over measured figures.

**The rule.** Of the model directories under `trained-models/`, take those whose
`metrics.json` records a serving measurement (`serving`, written from
`benchmarks/latency.py`) that meets every latency target in `LATENCY_TARGETS`;
serve the one with the best keystroke savings on the held-out code
(`heldout_keystrokes.keystroke_savings`). Ties go to the lower p50 latency, then
to the name. When no shipped model meets the targets (or none records its
figures), `trained-models/default` is served, as before the rule existed.

The rule reads only JSON files, so it costs nothing at start-up, and re-measuring
a model (and updating its `metrics.json`) is all it takes to change the default.
`python benchmarks/default_model.py` prints the table the rule applied. Standard
library only: the CLI imports this module.
"""
from __future__ import annotations

import json
from pathlib import Path

FALLBACK = "default"  # served when no shipped model meets the targets

# Per keystroke through HTTP, typing a real file one request per character, 5 suggestions,
# one worker on a 2-core CPU (benchmarks/latency.py). `speedup`: against the design's
# original method (model.predict per character, 25 calls per suggestion) on the same model.
LATENCY_TARGETS = {"p50_ms": 10.0, "p99_ms": 30.0, "speedup": 300.0, "startup_s": 3.0, "rss_mb": 300.0}


def _figures(serving: dict) -> dict:
    """The measured figures a target is checked against, from a `serving` record."""
    latency = serving.get("per_keystroke_ms") or {}
    return {"p50_ms": latency.get("p50"), "p99_ms": latency.get("p99"), "speedup": serving.get("speedup_p50"),
            "startup_s": serving.get("startup_s"), "rss_mb": serving.get("rss_mb")}


def missed_targets(serving: dict | None) -> list[str]:
    """The targets a serving measurement misses (or cannot show it meets); [] when it meets all."""
    if not serving:
        return ["no serving measurement"]
    missed = []
    for name, limit in LATENCY_TARGETS.items():
        value = _figures(serving)[name]
        if not isinstance(value, (int, float)):
            missed.append(f"{name} not measured")
        elif (value < limit) if name == "speedup" else (value > limit):
            missed.append(f"{name} {value:g} (target {'>=' if name == 'speedup' else '<='} {limit:g})")
    return missed


def read_metrics(model_dir: Path) -> dict:
    try:
        data = json.loads((Path(model_dir) / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def rule_table(root: Path) -> list[dict]:
    """One row per model directory under `root`: its figures, the targets it misses, whether chosen."""
    rows = []
    dirs = sorted(p for p in Path(root).iterdir() if (p / "model.json").is_file()) if Path(root).is_dir() else []
    for path in dirs:
        metrics = read_metrics(path)
        serving = metrics.get("serving")
        savings = (metrics.get("heldout_keystrokes") or {}).get("keystroke_savings")
        rows.append({"model": path.name, "path": str(path), "keystroke_savings": savings,
                     **({} if not serving else _figures(serving)),
                     "missed": missed_targets(serving) + ([] if isinstance(savings, (int, float))
                                                          else ["no keystroke savings measured"]),
                     "chosen": False})
    qualified = [r for r in rows if not r["missed"]]
    if qualified:
        best = min(qualified, key=lambda r: (-r["keystroke_savings"], r["p50_ms"], r["model"]))
    else:
        best = next((r for r in rows if r["model"] == FALLBACK), None)
    if best is not None:
        best["chosen"] = True
    return rows


def default_model(root: Path) -> Path:
    """The model directory under `root` (trained-models/) that the rule serves."""
    chosen = [r for r in rule_table(root) if r["chosen"]]
    return Path(chosen[0]["path"]) if chosen else Path(root) / FALLBACK
