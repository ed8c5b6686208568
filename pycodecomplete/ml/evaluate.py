"""Score a model directory, whatever its family: bits per character, accuracy, keystrokes.

Files are the model's own validation split (rebuilt from the corpus its training
recorded) or files named by the caller. The family scores them in Keras
(`score_files`: every file read from its start, as the engine reads a document);
bits are always divided by *characters*, so the families compare directly. With
`keystrokes`, the completion engine types the files (`ml/keystrokes.py`).

This module imports no TensorFlow itself: the family's scorer does, when called.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.config import Config
from pycodecomplete.corpus import SourceFile, read_sources, validation_files
from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.families import training_module

log = logging.getLogger(__name__)


def select_files(art: ModelArtifact, data, max_chars, config: Config) -> list[SourceFile]:
    files = validation_files(art) if not data else read_sources(
        data, max_file_bytes=config.max_file_bytes, max_line_chars=config.max_line_chars)
    if max_chars is not None:
        kept, total = [], 0
        for f in files:
            if total >= max_chars:
                break
            take = f.text[: max_chars - total]
            kept.append(SourceFile(f.root, f.path, take, f.split))
            total += len(take)
        files = kept
    return files


def score_with_engine(engine, files: list[SourceFile], progress: bool = True) -> dict:
    """bpc and accuracy as a character-level engine sees them, for any engine context.

    One request per character, so this is for the context experiments on a few
    thousand characters; the family's `score_files` is the fast path for the
    document context.
    """
    from tqdm import tqdm

    from pycodecomplete.vocab import CharVocabulary

    vocab = CharVocabulary()
    nll = top1 = top5 = 0.0
    chars = 0
    bar = tqdm(total=sum(len(f.text) for f in files), desc="scoring", unit="char", disable=not progress)
    for index, f in enumerate(files):
        targets = vocab.encode(f.text)
        for position, target in enumerate(targets):
            logp = engine.next_logprobs(f.text[:position], document=f"score-{index}")
            nll -= float(logp[target])
            rank = int((logp > logp[target]).sum())
            top1 += rank < 1
            top5 += rank < 5
        chars += len(targets)
        bar.update(len(targets))
    bar.close()
    return {"bpc": nll / chars / math.log(2), "top1": top1 / chars, "top5": top5 / chars,
            "chars": chars, "files": len(files)}


def evaluate(model_dir, data: list[Path] | None = None, max_chars: int | None = None,
             keystrokes: bool = False, context: str = "document", edits: bool = False) -> dict:
    """`context`: "document" (state carried from the file's start) or "window:N" (last N chars).

    `edits`: also the edit benchmark (`ml/edits.py`), with and without the suffix.
    """
    if max_chars is not None and max_chars < 1:
        raise OptionError("max_chars", "must be positive")
    art = ModelArtifact.load(model_dir)
    settings = _engine_settings(context)
    files = select_files(art, data, max_chars, art.config)
    started = time.perf_counter()
    result = {"model": art.name, "data": "validation split" if not data else [str(d) for d in data],
              "context": context}
    engine = None
    if keystrokes or edits or settings["context"] != "document":
        from pycodecomplete.engine import load_engine

        engine = load_engine(art.path, settings)
    if settings["context"] == "document":
        result.update(training_module(art.config.arch).score_files(art, files))
    elif hasattr(engine, "next_logprobs"):
        result.update(score_with_engine(engine, files))
    else:
        raise PyccError(f"context {context!r} is scored for character-level models only; use document")
    if keystrokes:
        from pycodecomplete.ml.keystrokes import simulate_files

        result.update(simulate_files(engine, files))
    if edits:
        from pycodecomplete.ml.edits import simulate_edits

        result["edits"] = simulate_edits(engine, files)
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    return result


def _engine_settings(context: str) -> dict:
    if context == "document":
        return {"context": "document"}
    if context.startswith("window:") and context[7:].isdigit() and int(context[7:]) >= 100:
        return {"context": "window", "window": int(context[7:])}
    raise PyccError(f"context must be 'document' or 'window:N' with N >= 100, not {context!r}")
