"""Fork safety of ONNX Runtime sessions, checked in a fresh interpreter (both families).

Whether a session was built before a fork is per process, and a test process has
built many, so the check runs in its own interpreter: load the engine (optionally
warm it), fork, complete in the child and in the parent, and print both.
"""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, os, sys, time
from pycodecomplete.engine import load_engine
model_dir, warm_parent, settings, text = sys.argv[1], sys.argv[2] == "warm", json.loads(sys.argv[3]), sys.argv[4]
engine = load_engine(model_dir, settings)
if warm_parent:
    engine.warm()
read, write = os.pipe()
pid = os.fork()
if pid == 0:
    answer = {"suggestions": [s.to_json() for s in engine.complete(text)], "onnx": engine.stepper.active}
    os.write(write, json.dumps(answer).encode())
    os._exit(0)
os.close(write)
deadline = time.monotonic() + 60
while os.waitpid(pid, os.WNOHANG)[0] == 0:
    if time.monotonic() > deadline:
        os.kill(pid, 9)
        sys.exit("the forked child hung")
    time.sleep(0.05)
child = json.loads(os.fdopen(read).read())
print(json.dumps({"child": child, "parent": [s.to_json() for s in engine.complete(text)]}))
"""


def fork_check(model_dir, warm_parent: bool, settings: dict, text: str):
    """(the finished process, its result: the child's answer and `onnx` flag, the parent's answer)."""
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(model_dir), "warm" if warm_parent else "cold",
                          json.dumps(settings), text], capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    return run, json.loads(run.stdout)
