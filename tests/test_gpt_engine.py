"""GPT-2 serving in numpy: parity with keras-hub, KV cache, boundaries, generation, the API."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from pycodecomplete.bpe import SEPARATOR_ID
from pycodecomplete.engine import load_engine
from pycodecomplete.engine.gpt2 import GPTEngine
from _gpt import keras_next_logprobs, write_keras_gpt_dir

SAMPLE = (
    "import os\n\n\ndef read_config(path):\n    \"\"\"Read a config file.\"\"\"\n"
    "    with open(path) as f:\n        return [line.strip() for line in f if line]\n"
)
TEXTS = ["", "i", "import nu", "import numpy as np\n", SAMPLE, SAMPLE * 4,  # longer than the context
         "s = 'caf\u00e9 \u2603 \x00\x07\ttab'\r\nx = 1"]


@pytest.fixture(scope="module")
def keras_gpt(tokenizer, tmp_path_factory):
    return write_keras_gpt_dir(tmp_path_factory.mktemp("keras-gpt"), tokenizer)


@pytest.fixture(scope="module")
def engine(keras_gpt):
    return load_engine(keras_gpt[2])


# ------------------------------------------------------------------ parity --

def test_the_engine_dispatches_gpt_model_dirs(engine):
    assert isinstance(engine, GPTEngine)
    assert engine.info()["family"] == "gpt2"


@pytest.mark.parametrize("text", TEXTS)
def test_next_token_probabilities_match_keras(keras_gpt, engine, tokenizer, text):
    model = keras_gpt[0]
    ids, logp, healed = engine.next_token_logprobs(text)
    assert len(ids) <= engine.stepper.max_positions
    expected = np.exp(keras_next_logprobs(model, ids))
    assert np.abs(np.exp(logp) - expected).max() < 1e-4
    assert abs(np.exp(logp).sum() - 1) < 1e-6
    if text and len(tokenizer.encode(text.replace("\r\n", "\n"))) + 2 <= engine.stepper.max_positions:
        assert ids[0] == SEPARATOR_ID  # the document starts after the file separator, as in training
        context = b"".join(engine.tokens.token_bytes[i] for i in ids) + healed
        assert context.decode("utf-8") == text.replace("\r\n", "\n")  # nothing lost but the healed token


def test_healing_takes_back_the_last_word(engine, tokenizer):
    for text in ("except Imp", "x = os.pa", "def f():\n    ", "name = 'caf\u00e9", "a_long_identifier_name"):
        ids, _, healed = engine.next_token_logprobs(text)
        word = text[tokenizer.last_word_start(text):].encode()
        assert word.endswith(healed) and (healed == word or len(tokenizer.encode(text)) - len(ids) + 1 == 4)
        assert b"".join(engine.tokens.token_bytes[i] for i in ids[1:]) + healed == text.encode()


def test_scores_are_probabilities_given_the_text(engine):
    """With healing, the search scores P(healed + suggestion); the API divides by P(healed)."""
    text = "import os\nx = os.pa"
    ids, _, healed = engine.next_token_logprobs(text)
    stepper = engine.stepper

    def mass(state, logp, rest):  # brute force over every tokenization of `rest`
        total = sum(np.exp(logp[t]) for t, b in enumerate(engine.tokens.token_bytes) if b and b.startswith(rest))
        for t, b in enumerate(engine.tokens.token_bytes):
            if b and len(b) < len(rest) and rest.startswith(b):
                logits, child, _ = stepper.advance(state, [t])
                total += np.exp(logp[t]) * mass(child, np.log(np.exp(logits - logits.max()) /
                                                             np.exp(logits - logits.max()).sum()), rest[len(b):])
        return total

    logits, state, _ = stepper.advance(stepper.initial_state(), ids)
    logp = logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
    expected = mass(state, logp, healed)
    root = {(): (logp.astype(np.float32), state)}
    assert np.isclose(np.exp(engine.tokens._healed_logmass(dict(root), root, healed)), expected, rtol=1e-4)
    suggestions = engine.complete(text, n=5)
    assert sum(s.score for s in suggestions) <= 1.0 + 1e-6


def test_healing_masks_match_their_definition(engine):
    for pending in (b" nu", b"\n   ", b"re", b"x", b"\xc3", b"zzzq", b" return"):
        brute = [bool(b) and (b.startswith(pending) or pending.startswith(b)) for b in engine.tokens.token_bytes]
        assert engine.tokens.heal_mask(pending).tolist() == brute
    for prefix in (b"", b" ", b"\n", b"re", b"\xc3", b"\xff", b"a\xff", b"\xff\xff", b"zzzq", b"_"):
        brute = {i for i, b in enumerate(engine.tokens.token_bytes) if b and b.startswith(prefix)}
        assert set(engine.tokens._starting_with(prefix).tolist()) == brute, prefix


def test_long_documents_are_cut_at_a_line_start(engine, tokenizer):
    ids, _, healed = engine.next_token_logprobs(SAMPLE * 4)
    context = (b"".join(engine.tokens.token_bytes[i] for i in ids) + healed).decode()
    assert ids[0] != SEPARATOR_ID and (SAMPLE * 4).endswith(context)
    assert (SAMPLE * 4)[-len(context) - 1] == "\n"


def test_the_cut_does_not_depend_on_the_last_requests_hint(engine):
    # `_cut` starts from the previous answer; whatever that was, the cut is the bisection's.
    text = SAMPLE * 6
    budget = engine.stepper.max_positions - 5
    ends = list(range(len(text) // 2, len(text), 7)) + [len(text) - 1, len(text) // 2 + 3, len(text) - 40]
    rng = np.random.default_rng(0)
    for end in ends:
        engine._cut_hint = 0
        expected = engine._cut(text[:end], budget)
        for hint in [int(h) for h in rng.integers(0, 40, 4)] + [engine._cut_hint - 1, engine._cut_hint + 1]:
            engine._cut_hint = hint
            assert engine._cut(text[:end], budget) == expected, (end, hint)


def test_cached_typing_matches_keras_at_every_prefix(keras_gpt, engine):
    """One character per request through the document cache (truncated KV states) gives Keras's numbers."""
    model = keras_gpt[0]
    worst = 0.0
    for end in range(0, 70, 3):
        ids, logp, _ = engine.next_token_logprobs(SAMPLE[:end], document="typing")
        worst = max(worst, float(np.abs(np.exp(logp) - np.exp(keras_next_logprobs(model, ids))).max()))
    for end in (60, 30, 65):  # edits and backspaces restart from the common prefix
        ids, logp, _ = engine.next_token_logprobs(SAMPLE[:end] + "x", document="typing")
        worst = max(worst, float(np.abs(np.exp(logp) - np.exp(keras_next_logprobs(model, ids))).max()))
    assert worst < 1e-4
    assert "typing" in engine.cache


def test_step_select_and_stack_agree_with_advance(engine, tokenizer):
    stepper = engine.stepper
    ids = np.concatenate([[SEPARATOR_ID], tokenizer.encode(SAMPLE)[:20]])
    full, state, kept = stepper.advance(stepper.initial_state(), ids, keep=[5, 12])
    prefix = stepper.truncate(state, 10)
    beams = stepper.stack([prefix, prefix, prefix])
    logits, beams = stepper.step(beams, ids[10:13])  # three beams, three different tokens
    for row, tok in enumerate(ids[10:13]):
        alone, _, _ = stepper.advance(prefix, [tok])
        assert np.abs(logits[row] - alone).max() < 1e-4
    picked = stepper.select(beams, [2, 0])
    after, _ = stepper.step(picked, [ids[13], ids[11]])
    alone, _, _ = stepper.advance(prefix, [ids[12], ids[13]])  # row 0 is beam 2, which read ids[12]
    assert np.abs(after[0] - alone).max() < 1e-4
    alone, _, _ = stepper.advance(prefix, [ids[10], ids[11]])
    assert np.abs(after[1] - alone).max() < 1e-4
    assert np.abs(kept[12][0] - stepper.advance(stepper.truncate(state, 11), [ids[11]])[0]).max() < 1e-4
    step_by_step = stepper.initial_state()
    for tok in ids:
        last, step_by_step = stepper.step(step_by_step, [tok])
    assert np.abs(last[0] - full).max() < 1e-4


# ------------------------------------------------------------------ complete --

def _check(suggestions, n, max_chars):
    assert 0 < len(suggestions) <= n
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True) and all(0 < p <= 1 for p in scores)
    assert len({s.text for s in suggestions}) == len(suggestions)
    for s in suggestions:
        assert 1 <= len(s.text) <= max_chars and set(s.to_json()) == {"text", "score"}
        assert not set(s.text) & set("\x0b\x0c\r")


def test_suggestions_follow_the_boundary_rules(engine):
    words = engine.complete("import os\nx = os.pa", n=5, max_chars=30)
    _check(words, 5, 30)
    assert all(("a" + s.text).isidentifier() for s in words)  # Python identifier characters only
    lines = engine.complete("def f(x):\n    return ", n=4, max_chars=25)
    _check(lines, 4, 25)
    assert all("\n" not in s.text for s in lines)
    strings = engine.complete("name = 'hello wor", n=5, max_chars=20)
    _check(strings, 5, 20)
    for s in strings:
        assert "\n" not in s.text and ("'" not in s.text or s.text.endswith("'"))
    short = engine.complete("for i in ", n=3, max_chars=3)
    _check(short, 3, 3)


# ------------------------------------------------------------------ generate --

def test_seeded_generation_is_deterministic(engine):
    a = "".join(engine.generate("def f(x):\n", chars=80, temperature=0.9, seed=7, top_k=50, top_p=0.95))
    b = "".join(engine.generate("def f(x):\n", chars=80, temperature=0.9, seed=7, top_k=50, top_p=0.95))
    c = "".join(engine.generate("def f(x):\n", chars=80, temperature=0.9, seed=8, top_k=50, top_p=0.95))
    assert a == b and a != c and 0 < len(a) <= 80
    greedy = "".join(engine.generate("def f(x):\n", chars=60, temperature=0))
    assert greedy == "".join(engine.generate("def f(x):\n", chars=60, temperature=1.0, top_k=1, seed=1))


def test_generation_limits_and_long_outputs(engine):
    assert len("".join(engine.generate("x", chars=7, seed=0))) <= 7
    pieces = list(engine.generate("import os\n", chars=10_000, max_length=12, seed=0))
    assert len(pieces) <= 12
    # Longer than the 64-token context: generation slides its window and goes on.
    long = "".join(engine.generate("import os\n", chars=10_000, max_length=150, seed=3, temperature=1.0))
    assert len(long) > 100


def test_beam_generation_is_deterministic_without_repeated_ngrams(engine):
    a = "".join(engine.generate("def f(x):\n", chars=200, max_length=30, beams=4, no_repeat_ngram=5))
    b = "".join(engine.generate("def f(x):\n", chars=200, max_length=30, beams=4, no_repeat_ngram=5))
    assert a == b and a
    prompt, best, _ = engine.beam_search_tokens("def f(x):\n", 40, 10, 5)  # GPyT: 10 beams
    ids = prompt + best
    grams = [tuple(ids[i:i + 5]) for i in range(len(ids) - 4)]
    assert len(best) > 5 and len(grams) == len(set(grams))


# ------------------------------------------------------------------ serving --

def test_the_api_serves_a_gpt_model_dir(keras_gpt):
    from webapp import create_app

    app = create_app({"TESTING": True, "MODEL_DIR": str(keras_gpt[2])})
    client = app.test_client()
    answer = client.post("/api/complete", json={"text": "import os\nx = os.pa", "n": 3, "document": "a"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["model"] == "keras-gpt-tiny" and 1 <= len(body["suggestions"]) <= 3
    assert all(set(s) == {"text", "score"} for s in body["suggestions"])
    assert client.get("/api/model").get_json()["config"]["arch"] == "gpt2"
    assert client.post("/api/complete", json={"text": 3}).status_code == 400


def test_serving_a_gpt_model_never_imports_tensorflow(keras_gpt):
    script = ("import sys, json\nfrom pycodecomplete.engine import load_engine\n"
              f"e = load_engine({str(keras_gpt[2])!r})\n"
              "s = e.complete('import os\\nx = os.pa')\n"
              "print(json.dumps({'tf': 'tensorflow' in sys.modules or 'keras' in sys.modules, 'n': len(s)}))")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"tf": False, "n": 5}


def test_the_shipped_gpt_heals_the_last_word():
    """`except Imp` is ` I`+`mp` in tokens; the engine takes both back and finds ` ImportError`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.bpe import BPETokenizer

    model = Path(__file__).resolve().parent.parent / "trained-models" / "gpt2-cpu"
    shipped = ModelArtifact.load(model)
    assert shipped.manifest["vocabulary"]["kind"] == "bpe"
    assert BPETokenizer.from_artifact(shipped).vocab_size == shipped.config.gpt_vocab_size
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "complete", "--json", "--n", "5",
                           "--model", str(model), "try:\n    import json\nexcept Imp"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    suggestions = json.loads(proc.stdout)["suggestions"]
    assert suggestions[0]["text"] == "ortError" and suggestions[0]["score"] > 0.5
    assert "it__" in [s.text for s in load_engine(model).complete("class Foo:\n    def __in")]
