"""`pycc stats`: acceptance figures from the telemetry `pycc serve` records (`pycodecomplete.telemetry`)."""
from __future__ import annotations

import json

from pycodecomplete.errors import OptionError

COLUMNS = (("day", "day", 10), ("model", "model", 24), ("shown", "shown", 7), ("accepted", "accepted", 8),
           ("dismissed", "dismissed", 9), ("acceptance_rate", "accept %", 8),
           ("mean_accepted_length", "mean len", 8), ("chars_saved", "chars saved", 11))


def register(sub) -> None:
    p = sub.add_parser("stats", help="acceptance rate and characters saved, per day and model",
                       description="Print what happened to the suggestions people were shown, from the events "
                                   "`pycc serve` records: per day and model, the acceptance rate (accepted / "
                                   "shown), the mean accepted length, and the characters saved (each accepted "
                                   "suggestion's length less the keystrokes spent accepting it).")
    p.add_argument("--db", metavar="URL", default=None,
                   help="the database pycc serve wrote to (default: the project's SQLite file)")
    p.add_argument("--days", type=int, default=None, metavar="N", help="only the last N days (default: all)")
    p.add_argument("--model", default=None, metavar="NAME", help="only this model")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_stats)


def _cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key == "acceptance_rate":
        return f"{100 * value:.1f}"
    if key == "mean_accepted_length":
        return f"{value:.1f}"
    return str(value)


def cmd_stats(args) -> int:
    if args.days is not None and args.days < 1:
        raise OptionError("days", "must be at least 1")
    from pycodecomplete.paths import default_db_url
    from pycodecomplete.telemetry import EventStore, totals

    store = EventStore.open(args.db or default_db_url())
    try:
        rows = store.stats(days=args.days, model=args.model)
    finally:
        store.close()
    overall = totals(rows)
    if args.json:
        print(json.dumps({"days": rows, "models": overall}, indent=2))
        return 0
    if not rows:
        print("no events recorded yet (pycc serve records them unless --no-telemetry)")
        return 0
    header = "  ".join(title.rjust(width) if i > 1 else title.ljust(width)
                       for i, (_, title, width) in enumerate(COLUMNS))
    print(header)
    for row in rows + [{**r, "day": "all days"} for r in overall]:
        print("  ".join(_cell(key, row.get(key)).rjust(width) if i > 1 else
                        _cell(key, row.get(key))[:width].ljust(width) for i, (key, _, width) in enumerate(COLUMNS)))
    return 0
