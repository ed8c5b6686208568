"""What one completion request may ask for: the limits the CLI and the web API share."""
from __future__ import annotations

from dataclasses import dataclass

from pycodecomplete.errors import OptionError

N_RANGE = (1, 10)  # suggestions per request
MAX_CHARS_RANGE = (1, 200)  # longest suggestion, in characters


@dataclass(frozen=True)
class CompletionRequest:
    text: str
    n: int = 5
    max_chars: int | None = None  # None: the engine's default

    def validate(self) -> "CompletionRequest":
        low, high = N_RANGE
        if not low <= self.n <= high:
            raise OptionError("n", f"must be from {low} to {high}")
        low, high = MAX_CHARS_RANGE
        if self.max_chars is not None and not low <= self.max_chars <= high:
            raise OptionError("max_chars", f"must be from {low} to {high}")
        return self
