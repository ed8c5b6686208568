"""How long a training runs: totals for a model directory, checked before anything loads.

Budgets are totals, not increments, so the same command run again after a kill
resumes and stops at the same place, and run after completion does nothing. With
no budget at all, training makes one pass over the training split.
"""
from __future__ import annotations

from dataclasses import dataclass

from pycodecomplete.errors import OptionError


@dataclass(frozen=True)
class Budget:
    max_steps: int | None = None  # total optimiser steps
    epochs: int | None = None  # total epochs of `steps_per_epoch` steps
    minutes: float | None = None  # total wall-clock minutes, across resumptions

    def validate(self) -> "Budget":
        for name in ("max_steps", "epochs"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise OptionError(name, "must be at least 1")
        if self.minutes is not None and not self.minutes > 0:
            raise OptionError("minutes", "must be positive")
        return self

    @property
    def unlimited(self) -> bool:
        return self.max_steps is None and self.epochs is None and self.minutes is None
