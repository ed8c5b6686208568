"""`pycc complete`, `pycc generate`, `pycc serve` (a real gunicorn), and what serving imports."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def pycc(*args, input=None, timeout=120, env=None):
    return subprocess.run([sys.executable, "-m", "pycodecomplete", *map(str, args)], input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_complete_prints_suggestions(random_model_dir):
    result = pycc("complete", "--model", random_model_dir, "--n", 3, "import o")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert 1 <= len(lines) <= 3
    for line in lines:
        score, text = line.split(None, 1)
        assert 0 < float(score) <= 1 and json.loads(text)


def test_complete_json_matches_the_api_shape_and_reads_stdin(random_model_dir):
    result = pycc("complete", "--model", random_model_dir, "--json", "-", input="def f(x):\n    return x")
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"suggestions", "model", "elapsed_ms"} and body["model"] == "random-tiny"
    assert len(body["suggestions"]) <= 5 and all(set(s) == {"text", "score"} for s in body["suggestions"])
    again = json.loads(pycc("complete", "--model", random_model_dir, "--json", "def f(x):\n    return x").stdout)
    assert again["suggestions"] == body["suggestions"]


@pytest.mark.parametrize("args, message", [
    (["--n", "0"], "--n"), (["--n", "11"], "--n"), (["--max-chars", "0"], "--max-chars"),
    (["--context", "window", "--window", "50"], "window"), (["--runtime", "torch"], "--runtime"),
])
def test_complete_refuses_bad_flags(random_model_dir, args, message):
    result = pycc("complete", "--model", random_model_dir, *args, "x")
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_complete_with_a_missing_model_is_one_clear_line(tmp_path):
    result = pycc("complete", "--model", tmp_path / "nope", "x")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_generate_is_reproducible_with_a_seed(random_model_dir):
    runs = [pycc("generate", "--model", random_model_dir, "--prompt", "def ", "--chars", 40, "--seed", seed)
            for seed in (1, 1, 2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr
    assert runs[0].stdout == runs[1].stdout != runs[2].stdout
    assert 0 < len(runs[0].stdout) <= 41


def test_generate_interactive_loop(random_model_dir):
    result = pycc("generate", "--model", random_model_dir, "--chars", 10, "--seed", 3,
                  input="import os\\nx = \nclass \n\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("import os\nx = ")
    assert "class " in result.stdout


def test_help_and_serving_never_import_tensorflow(random_model_dir):
    code = (
        "import sys\n"
        "from pycodecomplete.cli import build_parser\n"
        "build_parser().format_help()\n"
        "import webapp\n"
        f"app = webapp.create_app({{'MODEL_DIR': {str(random_model_dir)!r}}})\n"
        "app.test_client().post('/api/complete', json={'text': 'x'})\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120, cwd=ROOT)


def test_complete_gives_the_same_answer_on_either_runtime(random_model_dir):
    text = "def f(x):\n    return x"
    onnx, numpy_ = (json.loads(pycc("complete", "--model", random_model_dir, "--json", "--runtime", runtime,
                                    text).stdout)["suggestions"] for runtime in ("onnx", "numpy"))
    assert onnx and [s["text"] for s in onnx] == [s["text"] for s in numpy_]


def test_serve_refuses_bad_thread_counts(random_model_dir):
    result = pycc("serve", "--model", random_model_dir, "--port", free_port(), "--model-threads", "0", timeout=60)
    assert result.returncode == 2 and "--model-threads" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_missing_model_before_binding(tmp_path):
    result = pycc("serve", "--model", tmp_path / "absent", "--port", free_port(), timeout=60)
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_serve_runs_gunicorn_without_tensorflow(random_model_dir):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--model", str(random_model_dir),
                                "--port", str(port), "--workers", "2", "--no-telemetry"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"{base}/api/health", timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "model": "random-tiny"}
        answer = requests.post(f"{base}/api/complete", json={"text": "import o", "document": "d"}, timeout=10)
        assert answer.status_code == 200 and answer.json()["suggestions"]
        bad = requests.post(f"{base}/api/complete", data="{", headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "error" in bad.json()
        assert "gunicorn" in requests.get(f"{base}/api/health").headers.get("Server", "")  # not the dev server
        import psutil

        master = psutil.Process(process.pid)
        deadline = time.monotonic() + 30
        while len(master.children()) < 2 and time.monotonic() < deadline:  # the second may still be booting
            time.sleep(0.1)
        workers = master.children()
        assert len(workers) == 2
        for proc in [master, *workers]:
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            assert "tensorflow" not in maps and "libtensorflow" not in maps
            assert proc.memory_info().rss < 300 * 2**20
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert "gunicorn" in output.lower()
    assert "steps run in numpy" not in output  # each worker built its own ONNX Runtime session
    assert process.returncode == 0, output
