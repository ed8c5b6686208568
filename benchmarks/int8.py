"""What int8 weights cost in quality and gain in speed, per model, side by side in one run.

For each model directory and each engine variant (`numpy`: float32 in numpy, the
reference; `float32`: ONNX Runtime; `int8`: ONNX Runtime with dynamic int8
quantization), through the serving engine (never Keras):

1. **bpc on held-out code**: every character's (LSTM) or token's (GPT-2)
   log-probability from the variant's own steps, summed per file and divided by the
   file's characters, exactly as `pycc evaluate` scores in Keras (the LSTM reads each
   file from the boundary character on; the GPT reads chunks of half a context, each
   after the previous one). For the LSTM, every step runs on the variant's runtime,
   the typed character's too (`bpc_all_steps`): the int8 model's own bpc. The engine
   as served steps the typed character in float32 numpy whatever the variant, so its
   bpc is the float model's.
2. **keystroke savings** on the first `--keystroke-chars` held-out characters
   (`ml/keystrokes.py`, 5 suggestions, one cached document per file), the variant
   serving the completions.
3. **per-keystroke latency** in process: `--latency-file` (default the stdlib's
   `textwrap.py`, first ~2,000 characters) typed one character per `complete` call
   with a document id, every variant of every model in turn at each keystroke
   (interleaved, so load on the machine hits all alike).

    python benchmarks/int8.py --model trained-models/default --model trained-models/gpt2-cpu \\
        --heldout data/heldout/six --heldout data/heldout/attrs

Prints one JSON object, with the differences int8 - float32 and whether int8
meets the default rule (bpc loss < 0.01 and a real speed gain).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sysconfig
import time
from pathlib import Path

import numpy as np

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.bpe import SEPARATOR_ID, BPETokenizer
from pycodecomplete.corpus.preprocess import chunk_text, split_lines
from pycodecomplete.engine import load_engine
from pycodecomplete.engine.numeric import log_softmax
from pycodecomplete.ml.evaluate import select_files
from pycodecomplete.ml.keystrokes import simulate_files
from pycodecomplete.vocab import CharVocabulary

VARIANTS = {"numpy": {"runtime": "numpy"}, "float32": {"runtime": "onnx", "int8": False},
            "int8": {"runtime": "onnx", "int8": True}}
BPC_LOSS_LIMIT = 0.01


def machine() -> dict:
    try:
        model = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        model = platform.processor()
    return {"cpu": model, "cores": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "numpy": np.__version__,
            "onnxruntime": __import__("onnxruntime").__version__}


def lstm_bits(engine, text: str) -> float:
    """Bits of `text` read from the boundary character, every step on the engine's runtime."""
    stepper = engine.stepper
    step = getattr(stepper, "onnx_step", stepper.step)  # ONNX Runtime for the typed character too
    ids = CharVocabulary().encode_document(text)
    state, nll = stepper.initial_state(), 0.0
    for current, target in zip(ids[:-1], ids[1:]):
        logits, state = step(state, np.array([current]))
        nll -= float(log_softmax(logits[0])[target])
    return nll / math.log(2)


def gpt_windows(text: str, tokenizer: BPETokenizer, seq_len: int):
    """`ml.gpt2.scoring.scoring_windows` without TensorFlow: (ids, first scored target)."""
    lines = split_lines(text)
    counts = [len(ids) for ids in tokenizer.encode_batch(lines)] if lines else []
    units = tokenizer.encode_batch(chunk_text(text, max(1, seq_len // 2), tokenizer.count, line_counts=counts))
    if units:
        units[0] = np.concatenate([np.array([SEPARATOR_ID], np.int32), units[0]])
    for k, unit in enumerate(units):
        yield (unit, 0) if k == 0 else (np.concatenate([units[k - 1], unit]), len(units[k - 1]) - 1)


def gpt_bits(engine, text: str) -> float:
    stepper, nll = engine.stepper, 0.0
    for ids, first in gpt_windows(text, engine.tokenizer, stepper.max_positions):
        x, y = ids[:-1], ids[1:]
        last, _, kept = stepper.advance(stepper.initial_state(), x, keep=range(1, len(x)))
        logits = np.stack([kept[p][0] for p in range(1, len(x))] + [last])
        logp = log_softmax(logits)
        nll -= float(logp[np.arange(first, len(y)), y[first:]].sum())
    return nll / math.log(2)


def heldout_bpc(engine, files) -> dict:
    bits_of = gpt_bits if engine.family == "gpt2" else lstm_bits
    started = time.perf_counter()
    bits = sum(bits_of(engine, f.text) for f in files)
    chars = sum(len(f.text) for f in files)
    key = "bpc" if engine.family == "gpt2" else "bpc_all_steps"
    return {key: bits / chars, "chars": chars, "files": len(files), "seconds": round(time.perf_counter() - started, 1)}


def latency_file(path: str | None, chars: int) -> str:
    text = Path(path or Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()
    return text[:text.rfind("\n", 0, chars) + 1] if len(text) > chars else text


def type_interleaved(engines: dict, text: str) -> dict:
    times = {name: [] for name in engines}
    for name, engine in engines.items():
        engine.warm()
    for end in range(1, len(text) + 1):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.complete(text[:end], n=5, document="latency")
            times[name].append((time.perf_counter() - started) * 1000)
    return {name: {"p50_ms": round(float(np.percentile(t, 50)), 3), "p99_ms": round(float(np.percentile(t, 99)), 3),
                   "mean_ms": round(statistics.fmean(t), 3)} for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", required=True)
    parser.add_argument("--heldout", action="append", required=True, help="held-out .py file or directory")
    parser.add_argument("--variants", default="numpy,float32,int8")
    parser.add_argument("--bpc-variants", default="float32,int8",
                        help="variants that score the held-out code (numpy gives float32's bpc within 1e-6, slowly)")
    parser.add_argument("--keystroke-variants", default="float32,int8", help="variants that type the held-out code")
    parser.add_argument("--bpc-chars", type=int, default=None, help="cap on held-out characters for bpc")
    parser.add_argument("--keystroke-chars", type=int, default=20000)
    parser.add_argument("--latency-file", default=None)
    parser.add_argument("--latency-chars", type=int, default=2000)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: bpc, keystrokes, latency")
    args = parser.parse_args()
    variants, skip = args.variants.split(","), set(filter(None, args.skip.split(",")))
    report = {"benchmark": "int8", "machine_before": machine(), "models": {}}
    engines = {}
    for model in args.model:
        art = ModelArtifact.load(model)
        entry = report["models"][model] = {"name": art.name, "family": art.config.arch, "variants": {}}
        bpc_files = select_files(art, [Path(h) for h in args.heldout], args.bpc_chars, art.config)
        typed_files = select_files(art, [Path(h) for h in args.heldout], args.keystroke_chars, art.config)
        for variant in variants:
            engine = engines[(model, variant)] = load_engine(model, VARIANTS[variant])
            result = entry["variants"][variant] = {"settings": VARIANTS[variant],
                                                   "engine": engine.info()["engine"]}
            if "bpc" not in skip and variant in args.bpc_variants.split(","):
                result["heldout"] = heldout_bpc(engine, bpc_files)
            if "keystrokes" not in skip and variant in args.keystroke_variants.split(","):
                started = time.perf_counter()
                result["heldout_keystrokes"] = simulate_files(engine, typed_files, progress=False)
                result["heldout_keystrokes"]["seconds"] = round(time.perf_counter() - started, 1)
    if "latency" not in skip:
        text = latency_file(args.latency_file, args.latency_chars)
        timed = type_interleaved({f"{m}|{v}": e for (m, v), e in engines.items()}, text)
        report["latency"] = {"file": args.latency_file or "stdlib textwrap.py", "chars": len(text),
                             "how": "engine.complete(n=5, document=...) per character, variants interleaved"}
        for (model, variant) in engines:
            report["models"][model]["variants"][variant]["latency"] = timed[f"{model}|{variant}"]
    for model, entry in report["models"].items():
        got = entry["variants"]
        if "float32" in got and "int8" in got:
            f, q = got["float32"], got["int8"]
            bpc_key = next((k for k in ("bpc", "bpc_all_steps") if k in f.get("heldout", {})), None)
            diff = {}
            if bpc_key:
                diff["bpc"] = q["heldout"][bpc_key] - f["heldout"][bpc_key]
            if "heldout_keystrokes" in f and "heldout_keystrokes" in q:
                diff["keystroke_savings"] = (q["heldout_keystrokes"]["keystroke_savings"]
                                             - f["heldout_keystrokes"]["keystroke_savings"])
            if "latency" in f:
                diff["p50_speedup"] = f["latency"]["p50_ms"] / q["latency"]["p50_ms"]
                diff["mean_speedup"] = f["latency"]["mean_ms"] / q["latency"]["mean_ms"]
            diff["bpc_loss_under_limit"] = diff["bpc"] < BPC_LOSS_LIMIT if "bpc" in diff else None
            entry["int8_minus_float32"] = diff
    report["machine_after"] = machine()
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
