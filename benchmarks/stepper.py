"""The char-LSTM's step on the two serving runtimes, side by side in one run.

For each batch size (1: the typed character; 2 to 10: the beams), times
`LSTMStepper.step` (numpy + OpenBLAS) and `OnnxLSTMStepper.onnx_step` (ONNX Runtime) on
the same weights and states, interleaved round by round so that load on the machine
hits both alike, and prints one JSON object with the medians and their ratio.

    python benchmarks/stepper.py --preset paper      # 4x512, the design's model
    python benchmarks/stepper.py --preset cpu --threads 1

Weights are random (timing does not depend on their values); the two runtimes'
outputs are compared too (`max_abs_diff`).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from pycodecomplete.config import preset
from pycodecomplete.engine.lstm.onnx import OnnxLSTMStepper
from pycodecomplete.engine.lstm.stepper import LSTMStepper


def random_weights(layers: int, units: int, vocab: int = 100, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(units)
    weights = {"output/kernel": rng.uniform(-scale, scale, (units, vocab)), "output/bias": np.zeros(vocab)}
    for layer in range(layers):
        weights[f"lstm_{layer}/kernel"] = rng.uniform(-scale, scale, (vocab if layer == 0 else units, 4 * units))
        weights[f"lstm_{layer}/recurrent_kernel"] = rng.uniform(-scale, scale, (units, 4 * units))
        weights[f"lstm_{layer}/bias"] = np.zeros(4 * units)
    return {k: v.astype(np.float32) for k, v in weights.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="paper", help="architecture (paper, cpu, tiny...)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="threads for both runtimes (OPENBLAS_NUM_THREADS must match for numpy; "
                             "default: every core)")
    parser.add_argument("--batches", default="1,2,5,10", help="batch sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds per batch size")
    parser.add_argument("--calls", type=int, default=20, help="steps per round")
    args = parser.parse_args()

    config = preset(args.preset)
    weights = random_weights(config.lstm_layers, config.lstm_units)
    runtimes = {"numpy": LSTMStepper(weights, config.lstm_layers, config.lstm_units),
                "onnx": OnnxLSTMStepper(weights, config.lstm_layers, config.lstm_units, threads=args.threads)}
    numpy_stepper = runtimes["numpy"]
    _, state, _ = numpy_stepper.advance(numpy_stepper.initial_state(), np.arange(200) % 100)
    results = []
    for batch in (int(b) for b in args.batches.split(",")):
        states = numpy_stepper.select(state, np.zeros(batch, int))
        ids = np.arange(batch) * 7 % 100
        steps = {"numpy": runtimes["numpy"].step, "onnx": runtimes["onnx"].onnx_step}  # raw, whatever the batch
        outputs = {name: step(states, ids)[0] for name, step in steps.items()}  # warm-up
        times = {name: [] for name in runtimes}
        for _ in range(args.rounds):
            for name, step in steps.items():  # interleaved: both see the same load
                started = time.perf_counter()
                for _ in range(args.calls):
                    step(states, ids)
                times[name].append((time.perf_counter() - started) / args.calls * 1000)
        medians = {name: statistics.median(values) for name, values in times.items()}
        results.append({"batch": batch, "numpy_ms": round(medians["numpy"], 4), "onnx_ms": round(medians["onnx"], 4),
                        "numpy_over_onnx": round(medians["numpy"] / medians["onnx"], 2),
                        "max_abs_diff": float(np.abs(outputs["numpy"] - outputs["onnx"]).max())})
    print(json.dumps({
        "benchmark": "stepper",
        "model": f"{config.lstm_layers}x{config.lstm_units} LSTM ({args.preset})",
        "weight_mb": round(numpy_stepper.weight_bytes / 2**20, 1),
        "threads": args.threads,
        "openblas_threads_env": os.environ.get("OPENBLAS_NUM_THREADS"),
        "results": results,
        "machine": {"cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
                    "python": platform.python_version(), "numpy": np.__version__,
                    "onnxruntime": __import__("onnxruntime").__version__},
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
