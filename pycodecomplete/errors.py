"""The one exception type whose message is meant for the person at the terminal.

The CLI prints `PyccError` messages as one line and exits non-zero; anything else
is a bug and keeps its traceback.
"""


class PyccError(Exception):
    """A user-facing error: bad input, a missing file, an unusable model directory."""
