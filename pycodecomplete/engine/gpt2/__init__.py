"""The GPT-2 family's serving side: a numpy KV-cache stepper, token healing, the token search."""
from pycodecomplete.engine.gpt2.engine import ENGINE, GPTEngine

__all__ = ["ENGINE", "GPTEngine"]
