"""The learning side: the shared trainer and scorer, and one package per model family.

`trainer.py` and `evaluate.py` know no family; `families.py` (at the top of the
package) says where each family's `ml/<name>/` package is. TensorFlow is imported
by the trainer and the families' packages only; `budget.py`, `family.py`,
`evaluate.py` and `keystrokes.py` import none.
"""
