"""`python -m pycodecomplete.lsp [OPTIONS]` is `pycc lsp [OPTIONS]` (for editors that start a module)."""
import sys

from pycodecomplete.cli import main

raise SystemExit(main(["lsp", *sys.argv[1:]]))
