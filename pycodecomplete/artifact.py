"""The model directory: the only contract between training and serving.

Layout (format version 1)::

    model.json        format_version, name, config, vocabulary/tokenizer description
    weights.npz       inference weights as plain float32 arrays (readable without TensorFlow)
    tokenizer.json    the BPE tokenizer (gpt2 models only)
    summary.json      training summary: corpus stats, steps, wall time, hardware
    metrics.json      evaluation metrics of the saved weights
    metrics.csv       one row per training epoch
    logs/             TensorBoard event files
    checkpoints/      training state for resuming (not needed to serve)

Every file is written atomically (temp file in the same directory, fsync, rename),
so a kill at any moment leaves either the old file or the new one.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError

FORMAT_VERSION = 1
MANIFEST = "model.json"
WEIGHTS = "weights.npz"
TOKENIZER = "tokenizer.json"
SUMMARY = "summary.json"
METRICS = "metrics.json"
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temp path beside `path`; on success it replaces `path` in one rename.

    The temp name keeps `path`'s suffix, for writers (Keras) that insist on one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_bytes_atomic(path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json_atomic(path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def write_npz_atomic(path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes_atomic(path, buf.getvalue())


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PyccError(f"{path}: missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PyccError(f"{path}: corrupt JSON ({exc})") from None


@dataclass
class ModelArtifact:
    """A loaded model directory. Weights are read lazily, on first use."""

    path: Path
    manifest: dict
    config: Config

    @property
    def name(self) -> str:
        return self.manifest.get("name") or self.path.name

    @classmethod
    def load(cls, path) -> "ModelArtifact":
        path = Path(path)
        if not path.is_dir():
            raise PyccError(f"model directory {path} does not exist")
        manifest = read_json(path / MANIFEST)
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise PyccError(
                f"{path}: model format version {version!r} is not supported "
                f"(this PyCodeComplete reads version {FORMAT_VERSION}); retrain or convert the model"
            )
        try:
            config = Config.from_dict(manifest["config"])
        except (KeyError, TypeError) as exc:
            raise PyccError(f"{path}/{MANIFEST}: invalid config ({exc})") from None
        return cls(path=path, manifest=manifest, config=config)

    def weights(self) -> dict[str, np.ndarray]:
        file = self.path / WEIGHTS
        if not file.exists():
            raise PyccError(f"{self.path}: no {WEIGHTS} (the model has not finished an epoch yet)")
        try:
            with np.load(file, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
            raise PyccError(f"{file}: corrupt weights file ({exc.__class__.__name__}: {exc})") from None

    def summary(self) -> dict:
        return read_json(self.path / SUMMARY) if (self.path / SUMMARY).exists() else {}

    def metrics(self) -> dict:
        return read_json(self.path / METRICS) if (self.path / METRICS).exists() else {}


def write_manifest(path, config: Config, vocabulary: dict, name: str | None = None) -> None:
    write_json_atomic(Path(path) / MANIFEST, {
        "format_version": FORMAT_VERSION,
        "name": name or Path(path).resolve().name,
        "config": config.to_dict(),
        "vocabulary": vocabulary,
    })
