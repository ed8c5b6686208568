"""PyCodeComplete: self-hosted autocompletion for Python, learned from Python code."""

__version__ = "0.1.0"
