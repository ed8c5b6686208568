"""Where things live on disk by default: the data directory, the database, the models.

Everything here is computed from the checkout (the directory that holds the
`pycodecomplete` package), never from the environment: the CLI decides, and
passes paths down.

    <checkout>/data/                 the data directory (gitignored)
    <checkout>/data/pycc.sqlite      the default repository database
    <checkout>/data/clones/          cloned repositories, `.py` files only
    <checkout>/data/models/<run-id>/ models trained by `pycc retrain`
    <checkout>/data/models/current   symlink to the model served by default
    <checkout>/data/models/previous  symlink to the model that was current before
    <checkout>/trained-models/NAME/  the models shipped with the checkout; the one served by
                                     default is chosen by a measured rule (`pycodecomplete.defaults`)
"""
from __future__ import annotations

from pathlib import Path

CURRENT_LINK = "current"
PREVIOUS_LINK = "previous"


def checkout_dir() -> Path:
    """The directory that holds the `pycodecomplete` package."""
    return Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    return checkout_dir() / "data"


def default_db_url(data_dir: Path | None = None) -> str:
    """An SQLite file in the data directory."""
    path = Path(data_dir or default_data_dir()).resolve() / "pycc.sqlite"
    return f"sqlite:///{path}"


def clones_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "clones"


def models_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "models"


def shipped_models_root() -> Path:
    """The checkout's trained-models/ directory: the shipped models, one directory each."""
    return checkout_dir() / "trained-models"


def shipped_model_dir() -> Path:
    """The shipped model served by default: the best keystroke savings among the shipped models
    that meet the latency targets (the rule and its figures: `pycodecomplete.defaults`)."""
    from pycodecomplete.defaults import default_model

    return default_model(shipped_models_root())


def resolve_default_model(data_dir: Path | None = None) -> Path:
    """The model to serve when none is named.

    `<data-dir>/models/current` (the last model `pycc retrain` promoted) when it
    exists, else the shipped model that the default-model rule picks (`shipped_model_dir`).
    """
    current = models_dir(Path(data_dir or default_data_dir())) / CURRENT_LINK
    if current.exists():  # follows the symlink: a dangling link does not count
        return current.resolve()
    return shipped_model_dir()
