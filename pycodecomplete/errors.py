"""The exceptions whose messages are meant for the person at the terminal.

The CLI prints `PyccError` messages as one line and exits non-zero; anything else
is a bug and keeps its traceback.

`OptionError` is a bad value of one field of a library's options dataclass
(`CloneOptions.workers`, `GenerationOptions.top_p`...). Its message names the
field, not a flag: the library does not know how it was called. The CLI maps
field names to its flags in one place (`pycodecomplete.cli.flag_for`) and prints
``--workers must be at least 1``; the web API would say ``'workers'``.
"""


class PyccError(Exception):
    """A user-facing error: bad input, a missing file, an unusable model directory."""


class OptionError(PyccError):
    """`field` has a bad value; `problem` says why ("must be at least 1").

    `related` lists other fields that `problem` names, so that a caller can name
    them its own way too.
    """

    def __init__(self, field: str, problem: str, related: tuple[str, ...] = ()):
        self.field, self.problem, self.related = field, problem, related
        super().__init__(f"{field} {problem}")
