"""Tiny corpora for the learning tests, written into tmp_path."""
from __future__ import annotations

import sysconfig
from pathlib import Path

STDLIB = Path(sysconfig.get_paths()["stdlib"])
# Small, stable, pure-Python stdlib modules: real code, a few hundred KB in all.
SMALL_MODULES = ["_markupbase.py", "_py_abc.py", "bisect.py", "colorsys.py", "copy.py", "fnmatch.py",
                 "genericpath.py", "glob.py", "heapq.py", "keyword.py", "linecache.py", "opcode.py",
                 "queue.py", "sched.py", "shlex.py", "stat.py", "string.py", "textwrap.py"]


def write_tiny_corpus(root: Path, modules=SMALL_MODULES) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in modules:
        (root / name).write_bytes((STDLIB / name).read_bytes())
    return root


def kill_training_at_step(cmd: list[str], out: Path, step: int, timeout: float = 300) -> int:
    """Run the `pycc train` command `cmd`, SIGKILL it once `out` has checkpointed `step`;
    return the step the last checkpoint saved."""
    import os
    import signal
    import subprocess
    import time

    import pytest

    from pycodecomplete.ml.trainer import load_state

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = load_state(out) if (out / "checkpoints" / "state.json").exists() else None
        if state and state["step"] >= step:
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail(f"training never reached step {step}: " + proc.stderr.read())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return load_state(out)["step"]


def train_on_two_logical_cpus(out: Path, corpus: Path, preset_name: str, overrides: list[str],
                              steps: int = 10) -> dict:
    """Train `steps` steps under MirroredStrategy on the CPU split into two logical devices, in
    a fresh interpreter (logical devices must be set before TensorFlow starts); return the
    summary's replicas, global_batch, strategy and steps."""
    import json
    import subprocess
    import sys

    script = f"""
import json, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from pycodecomplete.ml.budget import Budget
from pycodecomplete.ml.trainer import train
from pycodecomplete.config import preset
s = train({str(out)!r}, [{str(corpus)!r}], preset({preset_name!r}).with_overrides({overrides!r}),
          Budget(max_steps={steps}), devices=["/cpu:0", "/cpu:1"], verbose=0)
print(json.dumps({{k: s[k] for k in ("replicas", "global_batch", "strategy", "steps")}}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
