"""Where the app keeps its loaded engine (`app.extensions`, never a module global)."""
from __future__ import annotations

EXTENSION = "pycodecomplete"


def engine_of(app):
    return app.extensions[EXTENSION]
