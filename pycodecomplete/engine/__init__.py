"""Inference without TensorFlow: load a model directory, complete, generate.

`load_engine(path, settings)` is the one entry point: it reads the directory's
config, finds the family's engine through `pycodecomplete.families`, and builds it
with that family's settings. `Engine` (`engine.base`) is what every family's engine
is; `engine.text` holds the text rules they share, `engine.cache` the per-document
LRU state, `engine.generation` sampling and beam-search generation.
"""
from __future__ import annotations

import logging

from pycodecomplete.engine.base import Engine
from pycodecomplete.engine.request import CompletionRequest
from pycodecomplete.engine.settings import EngineSettings
from pycodecomplete.engine.text import Suggestion, boundary_rule

log = logging.getLogger(__name__)


def load_engine(path, settings: EngineSettings | dict | None = None) -> Engine:
    """The engine for the model directory at `path`, whatever its family."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.families import serving_module

    artifact = ModelArtifact.load(path)
    engine = serving_module(artifact.config.arch).ENGINE.from_artifact(artifact, settings)
    log.info("loaded %s model %s from %s", artifact.config.arch, engine.name, path)
    return engine


__all__ = ["CompletionRequest", "Engine", "EngineSettings", "Suggestion", "boundary_rule", "load_engine"]
