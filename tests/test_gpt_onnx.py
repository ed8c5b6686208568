"""GPT-2 on ONNX Runtime (float32 and int8) and int8 for the char-LSTM: parity, caches, forks, serving.

Tolerances for int8 are measured, not guessed (numbers from this project's 2-core
x86-64 machine, onnxruntime 1.32):
* shipped `gpt2-cpu`, 63 contexts (the recorded prompts and prefixes of six.py):
  next-token probabilities within 0.0143 of float32, KL divergence at most 0.0011;
* shipped LSTM's beam steps (5 beams at 51 prefixes of six.py): within 0.0215, KL at most 0.0014;
* the tiny random GPT below (weights far larger than a trained model's): within
  0.038 of keras-hub, KL at most 0.014.
The tests allow about twice those.

int8 does not keep answers identical with and without the per-document cache:
activations are rounded to int8, so the last-bit differences between a state read
in one pass and one built keystroke by keystroke can flip a rounding and move a
log-probability by a few hundredths (typing 1,500 characters of six.py, 153 of the
GPT's and 441 of the LSTM's answer lists differed; none on float32). That is why
int8 is not the default (trained-models/README.md), and why the cache test below
runs float32 only.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from _fork import fork_check
from _gpt import keras_next_logprobs, write_keras_gpt_dir, write_random_gpt_dir
from pycodecomplete.bpe import SEPARATOR_ID
from pycodecomplete.engine import load_engine
from pycodecomplete.engine.numeric import log_softmax
from pycodecomplete.errors import PyccError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "trained-models"
SAMPLE = (
    "import os\n\n\ndef read_config(path):\n    \"\"\"Read a config file.\"\"\"\n"
    "    with open(path) as f:\n        return [line.strip() for line in f if line]\n"
)
TEXTS = ["", "i", "import nu", "import numpy as np\n", SAMPLE, SAMPLE * 4,  # longer than the context
         "s = 'caf\u00e9 \u2603 \x00\x07\ttab'\r\nx = 1"]
RUNTIMES = {"numpy": {"runtime": "numpy"}, "onnx": {"runtime": "onnx", "int8": False, "threads": 2},
            "int8": {"runtime": "onnx", "int8": True, "threads": 2}}


@pytest.fixture(scope="module")
def keras_gpt(tokenizer, tmp_path_factory):
    return write_keras_gpt_dir(tmp_path_factory.mktemp("keras-gpt-onnx"), tokenizer)


@pytest.fixture(scope="module")
def engines(keras_gpt):
    return {name: load_engine(keras_gpt[2], settings) for name, settings in RUNTIMES.items()}


def kl(p_log: np.ndarray, q_log: np.ndarray) -> float:
    return float((np.exp(p_log) * (p_log - q_log)).sum())


# ------------------------------------------------------------------ parity --

@pytest.mark.parametrize("runtime", ["numpy", "onnx"])
def test_next_token_probabilities_match_keras(keras_gpt, engines, runtime):
    """At every text, and typing through the document cache (truncated KV states)."""
    engine, model = engines[runtime], keras_gpt[0]
    assert engine.stepper.runtime == runtime
    contexts = [engine.next_token_logprobs(text) for text in TEXTS]
    contexts += [engine.next_token_logprobs(SAMPLE[:end], document="typing") for end in range(0, 70, 3)]
    contexts += [engine.next_token_logprobs(SAMPLE[:end] + "x", document="typing") for end in (60, 30, 65)]
    for ids, logp, _ in contexts:
        assert np.abs(np.exp(logp) - np.exp(keras_next_logprobs(model, ids))).max() < 1e-4
        assert abs(np.exp(logp).sum() - 1) < 1e-6


def test_int8_stays_within_its_measured_tolerance_of_keras(keras_gpt, engines):
    engine, model = engines["int8"], keras_gpt[0]
    assert engine.stepper.runtime == "onnx" and engine.stepper.int8 and engine.info()["engine"]["int8_effective"]
    worst_p = worst_kl = 0.0
    for text in TEXTS + [SAMPLE[:end] for end in range(0, 70, 3)]:
        ids, logp, _ = engine.next_token_logprobs(text)
        expected = keras_next_logprobs(model, ids)
        worst_p = max(worst_p, float(np.abs(np.exp(logp) - np.exp(expected)).max()))
        worst_kl = max(worst_kl, kl(expected, logp))
    assert worst_p < 0.08 and worst_kl < 0.03
    assert worst_p > 1e-4  # the int8 weights are really in use


@pytest.mark.parametrize("runtime", ["onnx", "int8"])
def test_steps_agree_with_one_pass_and_with_numpy(engines, tokenizer, runtime):
    """Beams (stack, step, select) and checkpoints (advance with keep) give the one-pass numbers;
    float32 gives numpy's."""
    stepper, reference = engines[runtime].stepper, engines["numpy"].stepper
    ids = np.concatenate([[SEPARATOR_ID], tokenizer.encode(SAMPLE)[:20]])
    full, state, kept = stepper.advance(stepper.initial_state(), ids, keep=[5, 12])
    prefix = stepper.truncate(state, 10)
    beams = stepper.stack([prefix, prefix, prefix])
    logits, beams = stepper.step(beams, ids[10:13])
    picked = stepper.select(beams, [2, 0])
    after, _ = stepper.step(picked, [ids[13], ids[11]])
    alone, _, _ = stepper.advance(prefix, [ids[12], ids[13]])
    tolerance = 1e-4
    assert np.abs(after[0] - alone).max() < tolerance
    assert np.abs(kept[12][0] - stepper.advance(stepper.truncate(state, 11), [ids[11]])[0]).max() < tolerance
    for row, tok in enumerate(ids[10:13]):
        assert np.abs(logits[row] - stepper.advance(prefix, [tok])[0]).max() < tolerance
    if runtime == "onnx":
        ref_full, ref_state, _ = reference.advance(reference.initial_state(), ids, keep=[5, 12])
        assert np.abs(full - ref_full).max() < 1e-4
        assert np.abs(state.prefix_k - ref_state.prefix_k).max() < 1e-5
        ref_logits, ref_beams = reference.step(reference.stack([reference.truncate(ref_state, 10)] * 3), ids[10:13])
        assert np.abs(logits - ref_logits).max() < 1e-4 and np.abs(beams.suffix_v - ref_beams.suffix_v).max() < 1e-5
    assert not beams.suffix_k.flags.writeable and not state.prefix_k.flags.writeable  # states stay immutable


def test_an_int8_row_does_not_depend_on_its_batch(engines, tokenizer):
    """int8 activations are scaled per row, never per batch: a beam scores the same whoever it is
    stepped with (dynamic quantization's per-batch scale moved the shipped GPT's log-probs by 0.24)."""
    stepper = engines["int8"].stepper
    ids = np.concatenate([[SEPARATOR_ID], tokenizer.encode(SAMPLE)[:30]])
    _, state, _ = stepper.advance(stepper.initial_state(), ids[:20])
    together, _ = stepper.step(stepper.stack([state] * 5), ids[20:25])
    for row, tok in enumerate(ids[20:25]):
        alone, _ = stepper.step(state, [tok])
        assert np.abs(together[row] - alone[0]).max() < 1e-5


@pytest.mark.parametrize("runtime", ["numpy", "onnx"])
def test_cached_typing_answers_as_fresh_requests(engines, runtime):
    """Typing through the document cache (KV states, reused search trees) gives the fresh answers."""
    engine = engines[runtime]
    steps, real_step = [], engine.stepper.step

    def counting_step(state, ids):
        steps.append(len(ids))
        return real_step(state, ids)

    engine.stepper.step = counting_step
    try:
        typed = fresh = 0
        for end in range(30, 80):
            before = len(steps)
            cached = engine.complete(SAMPLE[:end], n=5, document=f"cache-{runtime}")
            typed += len(steps) - before
            before = len(steps)
            alone = engine.complete(SAMPLE[:end], n=5)
            fresh += len(steps) - before
            assert [s.text for s in cached] == [s.text for s in alone], SAMPLE[:end]
            assert np.allclose([s.score for s in cached], [s.score for s in alone], rtol=1e-4), SAMPLE[:end]
    finally:
        del engine.stepper.step
    assert typed < fresh  # the previous keystroke's search tree is reused (28% fewer steps on gpt2-cpu)


# ------------------------------------------------------------------ shipped models --

def test_the_shipped_gpt_on_onnx_answers_as_recorded():
    """Float32 on ONNX Runtime: the recorded (numpy) suggestions, in order, scores within 1e-4
    (measured: 1.7e-5), and the same seeded generations."""
    from record_shipped_answers import RECORDED_SETTINGS, answers

    record = json.loads((ROOT / "tests" / "data" / "shipped_answers.json").read_text())["models"]["gpt2-cpu"]
    got = answers(load_engine(SHIPPED / "gpt2-cpu", {**RECORDED_SETTINGS["gpt2-cpu"], "runtime": "onnx", "int8": False}))
    for kind in ("complete", "document"):
        for got_list, want_list in zip(got[kind], record[kind], strict=True):
            assert [t for t, _ in got_list] == [t for t, _ in want_list]
            np.testing.assert_allclose([s for _, s in got_list], [s for _, s in want_list], rtol=1e-4)
    assert got["generate"] == record["generate"]


def test_the_shipped_models_int8_stays_within_its_measured_tolerance():
    text = (ROOT / "tests" / "data" / "heldout" / "six.py").read_text()
    float32, int8 = (load_engine(SHIPPED / "gpt2-cpu", {"int8": flag}) for flag in (False, True))
    worst_p = worst_kl = 0.0
    for end in range(100, 5000, 245):
        ids, expected, _ = float32.next_token_logprobs(text[:end])
        ids8, logp, _ = int8.next_token_logprobs(text[:end])
        assert np.array_equal(ids, ids8)
        worst_p = max(worst_p, float(np.abs(np.exp(logp) - np.exp(expected)).max()))
        worst_kl = max(worst_kl, kl(expected, logp))
    assert 1e-4 < worst_p < 0.03 and worst_kl < 0.003
    from pycodecomplete.vocab import CharVocabulary

    float32, int8 = (load_engine(SHIPPED / "default", {"int8": flag}).stepper for flag in (False, True))
    worst_p = worst_kl = 0.0
    for end in range(100, 5000, 245):
        _, state, _ = float32.advance(float32.initial_state(), CharVocabulary().encode_document(text[:end]))
        beams, ids = float32.select(state, np.zeros(5, int)), np.array([3, 17, 40, 55, 71])
        expected, logp = (log_softmax(s.onnx_step(beams, ids)[0]) for s in (float32, int8))
        worst_p = max(worst_p, float(np.abs(np.exp(logp) - np.exp(expected)).max()))
        worst_kl = max(worst_kl, max(kl(e, q) for e, q in zip(expected, logp)))
    assert 1e-4 < worst_p < 0.05 and worst_kl < 0.003


# ------------------------------------------------------------------ settings, CLI --

def test_int8_settings(keras_gpt):
    assert load_engine(keras_gpt[2]).info()["engine"]["int8_effective"] is False  # float32 by default
    engine = load_engine(keras_gpt[2], {"runtime": "numpy"})
    assert engine.stepper.runtime == "numpy" and not engine.info()["engine"]["int8_effective"]
    with pytest.raises(PyccError, match="int8"):
        load_engine(keras_gpt[2], {"runtime": "numpy", "int8": True})
    with pytest.raises(PyccError, match="int8"):
        load_engine(keras_gpt[2], {"int8": "yes"})


def test_complete_takes_the_int8_flag(keras_gpt):
    def complete(*flags):
        proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "complete", "--model", str(keras_gpt[2]),
                               "--json", *flags, "import os\nx = os.pa"], capture_output=True, text=True,
                              timeout=120, cwd=ROOT)
        return proc

    int8, float32 = complete("--int8"), complete()
    assert int8.returncode == 0 and float32.returncode == 0, int8.stderr + float32.stderr
    assert json.loads(int8.stdout)["suggestions"] and json.loads(float32.stdout)["suggestions"]
    refused = complete("--runtime", "numpy", "--int8")
    assert refused.returncode == 2 and "int8" in refused.stderr and "Traceback" not in refused.stderr


# ------------------------------------------------------------------ fork safety, gunicorn --

@pytest.mark.parametrize("warm_parent, int8", [(False, False), (True, False), (False, True)])
def test_a_forked_worker_builds_its_own_session_or_falls_back(keras_gpt, warm_parent, int8):
    run, result = fork_check(keras_gpt[2], warm_parent, {"runtime": "onnx", "int8": int8, "threads": 2},
                             "import os\nx = os.pa")
    assert result["child"]["onnx"] is not warm_parent
    got, expected = result["child"]["suggestions"], result["parent"]
    assert expected and [s["text"] for s in got] == [s["text"] for s in expected]
    assert ("steps run in numpy" in run.stderr) is warm_parent


@pytest.mark.slow
def test_gunicorn_gpt_workers_each_run_onnx_runtime(tokenizer, tmp_path):
    """Two workers: each builds its own session after the fork (logged with its pid); none falls back."""
    import psutil

    model = write_random_gpt_dir(tmp_path / "gpt", tokenizer)
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--model", str(model),
                                "--port", str(port), "--workers", "2", "--int8"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                requests.get(f"http://127.0.0.1:{port}/api/health", timeout=5)
                break
            except requests.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.1)
        master = psutil.Process(process.pid)
        while len(master.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = {w.pid for w in master.children()}
        assert len(workers) == 2
        for i in range(8):
            answer = requests.post(f"http://127.0.0.1:{port}/api/complete",
                                   json={"text": "import os\nx = os.pa", "document": f"d{i}"}, timeout=30)
            assert answer.status_code == 200 and answer.json()["suggestions"]
        engine = requests.get(f"http://127.0.0.1:{port}/api/model", timeout=10).json()["engine"]
        assert engine["runtime_effective"] == "onnx" and engine["int8_effective"]
        time.sleep(1)  # both workers have warmed before their first request; give the log a moment
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    built = {int(line.rsplit("process ", 1)[1].split()[0]) for line in output.splitlines()
             if "ONNX Runtime session" in line and "built in process" in line}
    assert built == workers, output  # one session per worker, none in the master
    assert "steps run in numpy" not in output
    assert os.getpid() not in built
