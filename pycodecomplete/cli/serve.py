"""Serving commands: `pycc complete`, `pycc generate`, `pycc serve`."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from pycodecomplete.cli.common import MODEL_HELP, add_engine_flags, engine_settings, load_engine
from pycodecomplete.cli.exposure import add_exposure_flags, exposure_config, metrics_directory
from pycodecomplete.errors import OptionError


def register(sub) -> None:
    p = sub.add_parser("complete", help="print completions for the code before the cursor",
                       description="Print up to N suggestions to continue TEXT (the code before the cursor).")
    p.add_argument("text", metavar="TEXT", help="code before the cursor, or - to read it from stdin")
    p.add_argument("--n", type=int, default=5, help="how many suggestions (1..10, default 5)")
    p.add_argument("--max-chars", type=int, default=None, metavar="N",
                   help="longest suggestion in characters (1..200, default 40)")
    p.add_argument("--suffix", default="", metavar="TEXT",
                   help="the code after the cursor: suggestions never repeat it (escapes \\n and \\t are decoded)")
    p.add_argument("--json", action="store_true", help="print the API's JSON answer instead of a table")
    add_engine_flags(p)
    p.set_defaults(func=cmd_complete)

    p = sub.add_parser("generate", help="sample a continuation of a prompt",
                       description="Sample a continuation of --prompt, one character at a time. Without "
                                   "--prompt, read prompts interactively (escapes \\n and \\t are decoded; "
                                   "an empty line or end of input quits).")
    p.add_argument("--model", type=Path, default=None, metavar="DIR", help=MODEL_HELP)
    p.add_argument("--prompt", default=None, help="text to continue (default: ask interactively)")
    p.add_argument("--chars", type=int, default=300, metavar="N", help="characters to generate (default 300)")
    p.add_argument("--temperature", type=float, default=0.8, metavar="T",
                   help="sampling temperature; 0 picks the most likely character (default 0.8)")
    p.add_argument("--seed", type=int, default=None, help="random seed: the same seed gives the same text")
    # Sampling filters and beam search, for both families (engine/generation.py).
    p.add_argument("--max-length", type=int, default=None, metavar="N",
                   help="most model steps: tokens for a GPT-2 model, characters for an LSTM (default: --chars)")
    p.add_argument("--top-k", type=int, default=0, metavar="K",
                   help="sample among the K most likely tokens only (default 0: all)")
    p.add_argument("--top-p", type=float, default=1.0, metavar="P",
                   help="nucleus sampling: among the most likely tokens holding probability P (default 1: all)")
    p.add_argument("--beams", type=int, default=1, metavar="N",
                   help="beam search with N beams instead of sampling; deterministic (GPyT used 10)")
    p.add_argument("--no-repeat-ngram", type=int, default=None, metavar="N",
                   help="never produce the same N tokens twice (default: 5 with --beams, as GPyT; else off)")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("serve", help="serve the editor and the JSON API under gunicorn",
                       description="Serve the browser editor (/) and the JSON API (/api/...) with gunicorn. "
                                   "The model is loaded once, before the workers fork.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000, help="port to bind (default 5000; 0 picks a free one)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="worker processes (default 1; each keeps its own per-document cache)")
    p.add_argument("--threads", type=int, default=4, metavar="N", help="threads per worker (default 4)")
    p.add_argument("--model-threads", "--blas-threads", dest="model_threads", type=int, default=None,
                   metavar="N", help="threads each worker gives the model's matrix products, in ONNX Runtime and "
                                     "BLAS (default: the machine's cores divided among the workers)")
    add_exposure_flags(p)
    add_engine_flags(p)
    p.set_defaults(func=cmd_serve)


def cmd_complete(args) -> int:
    import time

    from pycodecomplete.engine import CompletionRequest

    text = sys.stdin.read() if args.text == "-" else args.text
    suffix = args.suffix.replace("\\n", "\n").replace("\\t", "\t")
    request = CompletionRequest(text, n=args.n, max_chars=args.max_chars).validate()
    engine = load_engine(args)
    started = time.perf_counter()
    suggestions = engine.complete(request.text, n=request.n, max_chars=request.max_chars, suffix=suffix)
    elapsed_ms = (time.perf_counter() - started) * 1000
    if args.json:
        print(json.dumps({"suggestions": [s.to_json() for s in suggestions], "model": engine.name,
                          "elapsed_ms": round(elapsed_ms, 3)}))
        return 0
    if not suggestions:
        print("(no suggestions)", file=sys.stderr)
    for s in suggestions:
        print(f"{s.score:10.4g}  {json.dumps(s.text, ensure_ascii=False)}")
    return 0


def cmd_generate(args) -> int:
    from pycodecomplete.engine.generation import GenerationOptions

    no_repeat = args.no_repeat_ngram if args.no_repeat_ngram is not None else (5 if args.beams > 1 else 0)
    extra = dict(max_length=args.max_length, top_k=args.top_k, top_p=args.top_p, beams=args.beams,
                 no_repeat_ngram=no_repeat)
    GenerationOptions(chars=args.chars, temperature=args.temperature, **extra).validate()
    engine = load_engine(args)

    def continue_prompt(prompt: str) -> None:
        for char in engine.generate(prompt, chars=args.chars, temperature=args.temperature, seed=args.seed,
                                    **extra):
            sys.stdout.write(char)
            sys.stdout.flush()
        sys.stdout.write("\n")
        sys.stdout.flush()

    if args.prompt is not None:
        continue_prompt(args.prompt)
        return 0
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"model {engine.name}; empty line or Ctrl-D quits", file=sys.stderr)
    while True:
        try:
            line = input(">>> " if interactive else "")
        except EOFError:
            return 0
        if not line:
            return 0
        prompt = line.replace("\\n", "\n").replace("\\t", "\t")
        sys.stdout.write(prompt)
        continue_prompt(prompt)


def cmd_serve(args) -> int:
    if args.model_threads is None:  # share the cores: workers fighting over them is the worst latency
        args.model_threads = max(1, (os.cpu_count() or 1) // max(1, args.workers))
    for flag in ("workers", "threads", "model_threads"):
        if getattr(args, flag) < 1:
            raise OptionError(flag, "must be at least 1")
    if not 0 <= args.port <= 65535:
        raise OptionError("port", "must be from 0 to 65535")
    exposure = exposure_config(args)  # tokens, hosts, limits, budget, telemetry: refused before loading
    # BLAS reads its thread count when numpy loads. Nothing above imported numpy (the
    # CLI's modules are standard library only), so setting it here is in time.
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.model_threads)
    overrides = {"DEBUG": False, "TESTING": False, **exposure,
                 "ENGINE_SETTINGS": {**engine_settings(args), "threads": args.model_threads}}
    if args.model is not None:
        overrides["MODEL_DIR"] = str(args.model)
    with metrics_directory():  # before webapp imports prometheus_client
        from webapp.server import serve

        serve(overrides, host=args.host, port=args.port, workers=args.workers, threads=args.threads)
    return 0
