"""Does Keras 3 train our model under MultiWorkerMirroredStrategy?

Starts two CPU worker processes on 127.0.0.1 with TF_CONFIG, each building and
fitting the tiny char-LSTM on a synthetic stream for a few steps, and prints one
JSON object: whether each worker finished, and the error line if not.

    python benchmarks/multiworker_check.py
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

WORKER = r"""
import json, os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np, tensorflow as tf
from pycodecomplete.config import preset
from pycodecomplete.ml.lstm import data
from pycodecomplete.ml.lstm.model import build_lstm, compile_model
strategy = tf.distribute.MultiWorkerMirroredStrategy()
config = preset("tiny")
stream = (np.arange(20000) % 90).astype(np.uint8)
with strategy.scope():
    model = compile_model(build_lstm(config), config)
ds = data.train_dataset(stream, config, config.batch_size * strategy.num_replicas_in_sync)
history = model.fit(ds, steps_per_epoch=5, epochs=2, verbose=0)
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "loss": history.history["loss"]}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    workers = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    procs = []
    for index in range(2):
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=240)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            err += "\n(timed out after 240 s)"
        lines = [l for l in err.strip().splitlines() if l.strip()]
        results.append({"returncode": proc.returncode, "stdout": out.strip()[-500:],
                        "last_error_lines": lines[-3:] if proc.returncode else []})
    import keras
    import tensorflow as tf
    print(json.dumps({"works": all(r["returncode"] == 0 for r in results), "keras": keras.__version__,
                      "tensorflow": tf.__version__, "workers": results}, indent=2))


if __name__ == "__main__":
    main()
