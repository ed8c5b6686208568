"""Inference without TensorFlow: load a model directory, step it, beam-search suggestions.

`CompletionEngine` is the entry point (`CompletionEngine.from_model_dir(path)`);
`stepper` holds the numpy model runners behind the small `Stepper` interface,
`beam` the boundary rules and the search, `cache` the per-document LRU state.
"""
from pycodecomplete.engine.beam import Suggestion, boundary_rule
from pycodecomplete.engine.completion import CONTEXTS, CompletionEngine, EngineSettings, load_stepper
from pycodecomplete.engine.stepper import LSTMStepper, Stepper

__all__ = ["CONTEXTS", "CompletionEngine", "EngineSettings", "LSTMStepper", "Stepper", "Suggestion",
           "boundary_rule", "load_stepper"]


def load_engine(path, settings=None):
    """The completion engine for a model directory, whatever its family."""
    return CompletionEngine.from_model_dir(path, settings)
