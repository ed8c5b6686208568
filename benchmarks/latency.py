"""Per-keystroke completion latency through HTTP, against the design's original method.

One run, one JSON object on stdout:

1. Builds the Keras char-LSTM for `--preset` (random Keras-initialised weights are
   fine for timing) and writes it as a model directory, or uses `--model DIR`.
2. Starts `pycc serve` (gunicorn) on a free port and times process start -> first
   completion served.
3. Types a real Python file (the first ~2,000 characters of the standard library's
   `bisect.py`, or `--file`) one character per request: POST /api/complete with the
   text so far, n=5, one document id, over one keep-alive connection. Reports the
   client-side round trip per keystroke (p50, p99, mean, max) and the server's own
   `elapsed_ms`, plus the workers' resident memory.
4. Runs the design's original method on the same model and the same text, at
   `--original-suggestions` cursor positions spread over the file. The original app
   (its `CodeGenerator.predict_n`) made one suggestion of 25 characters per request
   by calling `model.predict` on the 100 characters before the cursor once for each
   of the 25 characters, appending the predicted character each time. Both the time
   per suggestion (25 calls) and per single call are reported.
5. Prints both sides and the ratios of their medians: `speedup_p50` is per request
   (one 25-character suggestion against our 5 suggestions), `speedup_per_call_p50` is
   against a single `model.predict` call, the stricter comparison.

    python benchmarks/latency.py --preset paper
    python benchmarks/latency.py --preset cpu
    python benchmarks/latency.py --preset gpt2-cpu      # or --model runs/gpt2-cpu (a trained GPT-2)
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"p50_ms": 10.0, "p99_ms": 30.0, "speedup": 50.0, "startup_s": 3.0, "rss_mb": 300.0}


def sample_file(path: str | None, chars: int) -> tuple[str, str]:
    path = Path(path) if path else Path(sysconfig.get_paths()["stdlib"]) / "bisect.py"
    text = path.read_text()
    if len(text) > chars:
        text = text[: text.rfind("\n", 0, chars) + 1]
    return str(path), text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def summary_ms(values) -> dict:
    return {"p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3),
            "mean": round(statistics.fmean(values), 3), "max": round(max(values), 3)}


def build_model(preset_name: str, model_dir: Path):
    from pycodecomplete.artifact import write_json_atomic, write_manifest, write_npz_atomic
    from pycodecomplete.config import preset

    if preset(preset_name).arch == "gpt2":  # GPT-2 family: random keras-hub weights, stdlib tokenizer
        return build_gpt_model(preset_name, model_dir)
    from pycodecomplete.ml.lstm.model import build_lstm, export_weights
    from pycodecomplete.vocab import CharVocabulary

    config = preset(preset_name)
    model = build_lstm(config)  # Keras initialisers: glorot kernels, orthogonal recurrent, zero biases
    write_manifest(model_dir, config, CharVocabulary().to_json(), name=f"bench-{preset_name}-random")
    write_npz_atomic(model_dir / "weights.npz", export_weights(model, config))
    write_json_atomic(model_dir / "summary.json", {"note": "random weights, for latency only"})
    return model, config


def build_gpt_model(preset_name: str, model_dir: Path):
    from pycodecomplete.artifact import TOKENIZER, write_bytes_atomic, write_json_atomic, write_manifest, \
        write_npz_atomic
    from pycodecomplete.config import preset
    from pycodecomplete.corpus import load_corpus
    from pycodecomplete.ml.gpt2.model import build_gpt, export_weights
    from pycodecomplete.corpus.tokenizer import train_tokenizer

    config = preset(preset_name)
    tokenizer = train_tokenizer((f.text for f in load_corpus(None).split("train")), config.gpt_vocab_size)
    config = config.with_overrides({"gpt_vocab_size": tokenizer.vocab_size})
    model = build_gpt(config)
    write_manifest(model_dir, config, tokenizer.describe(), name=f"bench-{preset_name}-random")
    write_bytes_atomic(model_dir / TOKENIZER, tokenizer.to_str().encode())
    write_npz_atomic(model_dir / "weights.npz", export_weights(model, config))
    write_json_atomic(model_dir / "summary.json", {"note": "random weights, for latency only"})
    return model, config


def load_keras(model_dir: Path):
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.ml.lstm.model import build_lstm, import_weights

    artifact = ModelArtifact.load(model_dir)
    if artifact.config.arch == "gpt2":
        from pycodecomplete.ml.gpt2.scoring import load_keras_model
        return load_keras_model(artifact), artifact.config
    return import_weights(build_lstm(artifact.config), artifact.config, artifact.weights()), artifact.config


def describe(config) -> str:
    if config.arch == "gpt2":
        return f"{config.gpt_layers}x{config.gpt_width} GPT-2 ({config.gpt_vocab_size} BPE tokens, context {config.seq_len})"
    return f"{config.lstm_layers}x{config.lstm_units} LSTM"


def serve(model_dir: Path, port: int, workers: int, log_path: Path, extra: list[str]):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "pycodecomplete", "serve", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra]
    log = open(log_path, "wb")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/complete"
    deadline = started + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            response = requests.post(url, json={"text": "import ", "n": 5}, timeout=10)
            if response.status_code == 200:
                return process, time.perf_counter() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    process.kill()
    raise SystemExit(f"server did not answer within 120 s:\n{log_path.read_text()}")


def worker_rss_mb(process: subprocess.Popen) -> dict:
    master = psutil.Process(process.pid)
    workers = master.children(recursive=True)
    return {"workers": [round(w.memory_info().rss / 2**20, 1) for w in workers],
            "master": round(master.memory_info().rss / 2**20, 1)}


def type_file(port: int, text: str, n: int) -> tuple[list, list, int]:
    """One request per character over one keep-alive connection (stdlib http.client: the
    `requests` library alone adds about 1 ms of client-side Python per call)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    round_trips, server, empty = [], [], 0
    for end in range(1, len(text) + 1):
        started = time.perf_counter()
        connection.request("POST", "/api/complete", json.dumps(
            {"text": text[:end], "n": n, "document": "latency-benchmark"}), headers)
        response = connection.getresponse()
        answer = json.loads(response.read())
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"HTTP {response.status}: {answer}")
        round_trips.append(elapsed)
        server.append(answer["elapsed_ms"])
        empty += not answer["suggestions"]
    connection.close()
    return round_trips, server, empty


def original_method_gpt(model, config, model_dir: Path, text: str, chars: int) -> list:
    """GPyT's serving: a full forward pass (no KV cache) over the context tokens, once per character."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.bpe import SEPARATOR_ID, BPETokenizer

    tokenizer = BPETokenizer.from_artifact(ModelArtifact.load(model_dir))
    times = []
    for end in range(len(text) - chars - 1, len(text)):
        ids = np.concatenate([[SEPARATOR_ID], tokenizer.encode(text[:end])])[-config.seq_len:][None].astype(np.int32)
        started = time.perf_counter()
        model.predict({"token_ids": ids, "padding_mask": np.ones_like(ids)}, verbose=0)
        times.append((time.perf_counter() - started) * 1000)
    return times[1:]  # the first call builds the predict function


def original_method(model, text: str, chars: int, suggestions: int) -> tuple[list, list]:
    """The design's serving: for one suggestion, `chars` times model.predict on the last 100
    characters, each time appending the predicted character. Returns (ms per suggestion,
    ms per call) at `suggestions` cursor positions spread over `text`."""
    from pycodecomplete.vocab import CharVocabulary

    vocab = CharVocabulary()
    ids = vocab.encode_document(text)
    model.predict(ids[None, :100].astype(np.int32), verbose=0)  # build the predict function first
    per_suggestion, per_call = [], []
    for end in np.linspace(100, len(ids), suggestions).astype(int):
        window = list(ids[end - 100:end])
        started = time.perf_counter()
        for _ in range(chars):
            call = time.perf_counter()
            probs = model.predict(np.array(window[-100:], np.int32)[None], verbose=0)
            per_call.append((time.perf_counter() - call) * 1000)
            window.append(int(np.argmax(probs[0, -1] if probs.ndim == 3 else probs[0])))
        per_suggestion.append((time.perf_counter() - started) * 1000)
    return per_suggestion, per_call


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu",
                        help="architecture to build with random weights (paper, cpu, tiny, gpt2-cpu, gpt2-small...)")
    parser.add_argument("--model", type=Path, default=None, help="use this model directory instead")
    parser.add_argument("--file", default=None, help="Python file to type (default: stdlib bisect.py)")
    parser.add_argument("--chars", type=int, default=2000, help="characters of the file to type")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--original-chars", type=int, default=25,
                        help="characters per suggestion in the original method (one predict call each)")
    parser.add_argument("--original-suggestions", type=int, default=8,
                        help="cursor positions at which the original method makes a suggestion")
    parser.add_argument("--runtime", choices=("onnx", "numpy"), default=None, help="pycc serve --runtime")
    parser.add_argument("--model-threads", type=int, default=None, help="pycc serve --model-threads")
    args = parser.parse_args()
    extra = []
    if args.runtime:
        extra += ["--runtime", args.runtime]
    if args.model_threads:
        extra += ["--model-threads", str(args.model_threads)]

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load_before = os.getloadavg()[0]  # other work on the machine skews every number here
    file_name, text = sample_file(args.file, args.chars)
    tmp = Path(tempfile.mkdtemp(prefix="pycc-latency-"))
    if args.model:
        model_dir, model, config = args.model, None, None
    else:
        model_dir = tmp / f"{args.preset}-random"
        model, config = build_model(args.preset, model_dir)

    process, startup_s = serve(model_dir, free_port(), args.workers, tmp / "server.log", extra)
    port = int(process.args[process.args.index("--port") + 1])
    try:
        info = requests.get(f"http://127.0.0.1:{port}/api/model", timeout=10).json()
        round_trips, server_ms, empty = type_file(port, text, args.n)
        rss = worker_rss_mb(process)
    finally:
        process.terminate()
        process.wait(timeout=30)

    if model is None:
        model, config = load_keras(model_dir)
    if config.arch == "gpt2":
        per_call = original_method_gpt(model, config, model_dir, text, args.original_chars)
        per_suggestion = None
        what = "model.predict on the context tokens before the cursor (no KV cache), once per char"
    else:
        per_suggestion, per_call = original_method(model, text, args.original_chars, args.original_suggestions)
        what = (f"one {args.original_chars}-character suggestion: model.predict on the last 100 chars, "
                f"once per suggested char (the design's CodeGenerator.predict_n)")
    ours = summary_ms(round_trips)
    speedup_call = statistics.median(per_call) / ours["p50"]
    speedup = statistics.median(per_suggestion) / ours["p50"] if per_suggestion else speedup_call
    max_rss = max(rss["workers"] or [rss["master"]])
    result = {
        "benchmark": "latency",
        "model": {"name": info["name"], "arch": describe(config),
                  "preset": None if args.model else args.preset, "weights": "random" if not args.model else "trained"},
        "engine": info["engine"],
        "file": {"path": file_name, "chars": len(text)},
        "requests": len(round_trips),
        "suggestions_per_request": args.n,
        "client": "http.client, one keep-alive connection, JSON encode/decode inside the timing",
        "empty_answers": empty,
        "per_keystroke_ms": ours,
        "server_elapsed_ms": summary_ms(server_ms),
        "original_method": {"what": what, "suggestions": len(per_suggestion or []),
                            "per_suggestion_ms": summary_ms(per_suggestion) if per_suggestion else None,
                            "calls": len(per_call), "per_call_ms": summary_ms(per_call)},
        "speedup_p50": round(speedup, 1),
        "speedup_per_call_p50": round(speedup_call, 1),
        "startup_s": round(startup_s, 3),
        "rss_mb": rss,
        "targets": TARGETS,
        "met": {"p50_ms": ours["p50"] <= TARGETS["p50_ms"], "p99_ms": ours["p99"] <= TARGETS["p99_ms"],
                "speedup": speedup >= TARGETS["speedup"], "speedup_per_call": speedup_call >= TARGETS["speedup"],
                "startup_s": startup_s <= TARGETS["startup_s"],
                "rss_mb": max_rss <= TARGETS["rss_mb"]},
        "machine": {"cpus": os.cpu_count(), "load_avg_1m_before": round(load_before, 2),
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "numpy": np.__version__},
        "workers": args.workers,
        "serve_flags": extra,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
