"""Flags and helpers that several stages share. Standard library only."""
from __future__ import annotations

import json
from pathlib import Path

from pycodecomplete.errors import PyccError

MODEL_HELP = ("model directory (default: data/models/current if present, else the shipped model with the best "
              "keystroke savings among those that meet the latency targets: trained-models/README.md)")
ENGINE_FLAGS = ("context", "window", "beam_width", "lookahead", "runtime", "int8")


def print_json(obj) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True))


def add_engine_flags(parser, model_help: str = MODEL_HELP) -> None:
    """--model and the engine settings, as `pycc complete`, `serve` and `lsp` take them."""
    parser.add_argument("--model", type=Path, default=None, metavar="DIR", help=model_help)
    parser.add_argument("--context", choices=("document", "window"), default=None,
                        help="document: carry the model state over the whole text (default); "
                             "window: read only the last --window characters")
    parser.add_argument("--window", type=int, default=None, metavar="N",
                        help="characters of context in window mode (at least 100; default 100)")
    parser.add_argument("--beam-width", type=int, default=None, metavar="N",
                        help="beams kept per step of the search (default 5)")
    parser.add_argument("--lookahead", type=int, default=None, metavar="N",
                        help="most model steps one completion may take: characters for a char-LSTM, "
                             "BPE tokens for a GPT-2 (default: from the model's size)")
    parser.add_argument("--runtime", choices=("onnx", "numpy"), default=None,
                        help="where the model's steps run: onnx (ONNX Runtime, default: several times faster "
                             "for beams) or numpy; they agree within 1e-4 (next-token probabilities)")
    parser.add_argument("--int8", action="store_true", default=None,
                        help="int8 weights on ONNX Runtime (its quantizer): faster steps, next-token "
                             "probabilities within about 0.02 of float32, answers no longer exactly "
                             "independent of the document cache (measured: trained-models/README.md)")


def add_corpus_flags(parser) -> None:
    """DIRs (the stdlib when none) and --set for the corpus fields, as the corpus commands take them."""
    parser.add_argument("dirs", nargs="*", metavar="DIR", help="directories of .py files (default: the stdlib)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="config override for the corpus fields (val_fraction, max_file_bytes, max_line_chars)")
    parser.add_argument("--installed", action="store_true", help=INSTALLED_HELP)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


INSTALLED_HELP = ("also read the permissively licensed packages installed in this Python environment "
                  "(licenses from their metadata; exclude_distributions are never read)")


def corpus_roots(dirs, installed: bool) -> list | None:
    """The corpus roots the flags name: the DIRs (else the stdlib), plus the installed packages."""
    roots = [str(d) for d in dirs or []] or (["stdlib"] if installed else [])
    return roots + ["installed"] if installed else roots or None


def corpus_from_args(args):
    """The corpus the corpus flags name, read with a progress bar unless printing JSON."""
    from pycodecomplete.config import Config
    from pycodecomplete.corpus import corpus_for

    return corpus_for(Config().with_overrides(args.set), corpus_roots(args.dirs, args.installed),
                      progress=not args.json)


def engine_settings(args) -> dict:
    """The engine settings the flags asked for (the rest keep the engine's defaults)."""
    return {flag: getattr(args, flag) for flag in ENGINE_FLAGS if getattr(args, flag, None) is not None}


def model_dir(args) -> Path:
    """--model, else the default model (data/models/current, else the shipped default)."""
    if getattr(args, "model", None) is not None:
        return args.model
    from pycodecomplete.paths import resolve_default_model

    return resolve_default_model()


def load_engine(args):
    from pycodecomplete.engine import load_engine as load

    return load(model_dir(args), engine_settings(args))


def read_secret(path: Path, flag: str) -> str:
    """A token from a file (one line, no spaces); the value is handed down, never shown."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc.__class__.__name__
        raise PyccError(f"cannot read {flag} {path}: {reason}") from None
    if not token or any(c.isspace() for c in token):
        raise PyccError(f"{flag} {path} does not hold a token (one line, no spaces)")
    return token
