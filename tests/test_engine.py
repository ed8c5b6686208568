"""The completion engine: parity with Keras, beam search and boundaries, incremental state, cache."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

from _fork import fork_check

from pycodecomplete.engine import EngineSettings, boundary_rule, load_engine
from pycodecomplete.engine.lstm import LSTMEngine
from pycodecomplete.engine.text import open_string_quote
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import CHARS, CharVocabulary

SAMPLE = (
    "import os\n\n\ndef read_config(path):\n    \"\"\"Read a config file.\"\"\"\n"
    "    with open(path) as f:\n        return [line.strip() for line in f if line]\n"
)
TEXTS = [
    "",
    "i",
    "import numpy as np\n",
    SAMPLE,
    SAMPLE * 3,  # longer than the 100-character window
    "s = 'caf\u00e9 \u2603 \x00\x07\ttab'\r\nx = 1",  # non-ASCII and control characters
]


def keras_log_probs(model, ids: np.ndarray) -> np.ndarray:
    logits = np.asarray(model(ids[None].astype(np.int32), training=False))
    last = logits[0, -1] if logits.ndim == 3 else logits[0]
    last = last.astype(np.float64)
    return last - np.log(np.exp(last - last.max()).sum()) - last.max()


# ------------------------------------------------------------------ parity --

RUNTIMES = ["onnx", "numpy"]


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("context", ["document", "window"])
def test_next_char_probabilities_match_keras(keras_lstm_dir, context, runtime):
    model, config, path = keras_lstm_dir
    engine = load_engine(path, {"context": context, "runtime": runtime})
    assert engine.stepper.runtime == runtime
    vocab = CharVocabulary()
    for text in TEXTS:
        ids = vocab.encode_document(text.replace("\r\n", "\n"))
        if context == "window":
            ids = ids[-100:]
        expected = np.exp(keras_log_probs(model, ids))
        got = np.exp(engine.next_logprobs(text))
        assert got.shape == (100,)
        assert np.abs(got - expected).max() < 1e-4, text
        assert abs(got.sum() - 1) < 1e-6


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_incremental_probabilities_match_keras_at_every_prefix(keras_lstm_dir, runtime):
    """Typing one character per request (the cached path) gives Keras's numbers at each step."""
    model, _, path = keras_lstm_dir
    engine = load_engine(path, {"runtime": runtime})
    ids = CharVocabulary().encode_document(SAMPLE)
    logits = np.asarray(model(ids[None].astype(np.int32), training=False), dtype=np.float64)[0]
    expected = np.exp(logits - logits.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)  # row t: after ids[:t + 1], i.e. after SAMPLE[:t]
    worst = 0.0
    for end in range(len(SAMPLE) + 1):
        got = np.exp(engine.next_logprobs(SAMPLE[:end], document="typing"))
        worst = max(worst, float(np.abs(got - expected[end]).max()))
    assert worst < 1e-4


def test_parity_for_the_last_char_objective(keras_lstm_dir):
    """A model trained with the original objective exports the same weights; the engine reads them alike."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.ml.lstm.model import build_lstm, import_weights

    _, config, path = keras_lstm_dir
    last_config = config.with_overrides({"objective": "last-char"})
    model = build_lstm(last_config)
    import_weights(model, last_config, ModelArtifact.load(path).weights())
    engine = load_engine(path, {"context": "window"})
    ids = CharVocabulary().encode_document(SAMPLE)[-100:]
    assert np.abs(np.exp(engine.next_logprobs(SAMPLE)) - np.exp(keras_log_probs(model, ids))).max() < 1e-4


# ------------------------------------------------------------- the stepper --

@pytest.mark.parametrize("runtime", RUNTIMES)
def test_batched_step_matches_single_rows(random_model_dir, runtime):
    engine = load_engine(random_model_dir, {"runtime": runtime})
    stepper = engine.stepper
    _, state, _ = stepper.advance(stepper.initial_state(), CharVocabulary().encode_document("def f"))
    ids = np.array([CHARS.index(c) for c in "(xa_ 1\n"])
    batched, new = stepper.step(stepper.select(state, np.zeros(len(ids), int)), ids)
    for row, i in enumerate(ids):
        single, single_state = stepper.step(state, np.array([i]))
        np.testing.assert_allclose(batched[row], single[0], atol=1e-5)
        np.testing.assert_allclose(new.h[:, row], single_state.h[:, 0], atol=1e-6)


def test_large_batches_use_the_blocked_product(make_random_model_dir):
    """Units big enough for the row-blocked small-matrix path give the same numbers."""
    path = make_random_model_dir("tiny", lstm_units=256, lstm_layers=2)
    stepper = load_engine(path, {"runtime": "numpy"}).stepper
    _, state, _ = stepper.advance(stepper.initial_state(), np.arange(20))
    ids = np.arange(5)
    batched, _ = stepper.step(stepper.select(state, np.zeros(5, int)), ids)
    for row in range(5):
        single, _ = stepper.step(state, ids[row:row + 1])
        np.testing.assert_allclose(batched[row], single[0], atol=1e-5)


def test_the_runtimes_agree_on_batched_steps(make_random_model_dir):
    """ONNX Runtime's step and numpy's give the same logits and states, batch by batch
    (the engine sends single rows to numpy and beams to ONNX Runtime: both must agree)."""
    path = make_random_model_dir("tiny", lstm_units=256, lstm_layers=2)
    onnx = load_engine(path, {"runtime": "onnx", "threads": 2}).stepper
    numpy_ = load_engine(path, {"runtime": "numpy"}).stepper
    _, state, _ = numpy_.advance(numpy_.initial_state(), np.arange(30) % 100)
    for batch in (1, 2, 5, 10):
        ids = np.arange(batch) * 7 % 100
        rows = numpy_.select(state, np.zeros(batch, int))
        (a, sa), (b, sb) = numpy_.step(rows, ids), onnx.onnx_step(rows, ids)
        np.testing.assert_allclose(b, a, atol=1e-5)
        np.testing.assert_allclose(sb.h, sa.h, atol=1e-6)
        np.testing.assert_allclose(sb.c, sa.c, atol=1e-6)
        assert not sb.h.flags.writeable  # states stay immutable values, whatever the runtime


@pytest.mark.parametrize("warm_parent", [False, True])
def test_forked_workers_answer_like_their_parent(random_model_dir, warm_parent):
    """gunicorn loads the engine, then forks. A worker builds its own ONNX Runtime session
    (the parent never made one); if the parent had already run one, building another would
    hang, so the child steps in numpy instead. Either way it answers, with the same numbers."""
    run, result = fork_check(random_model_dir, warm_parent, {"runtime": "onnx", "threads": 2}, SAMPLE)
    got, expected = result["child"]["suggestions"], result["parent"]
    assert result["child"]["onnx"] is not warm_parent
    assert expected and [s["text"] for s in got] == [s["text"] for s in expected]
    np.testing.assert_allclose([s["score"] for s in got], [s["score"] for s in expected], rtol=1e-5)
    assert ("steps run in numpy" in run.stderr) is warm_parent


def test_bad_runtime_settings_are_clear_errors():
    with pytest.raises(PyccError, match="runtime"):
        EngineSettings(runtime="torch").validate()
    with pytest.raises(PyccError, match="threads"):
        EngineSettings(threads=-1).validate()


def test_bad_weights_are_a_clear_error(make_random_model_dir):
    path = make_random_model_dir("tiny")
    from pycodecomplete.artifact import write_npz_atomic

    write_npz_atomic(path / "weights.npz", {"lstm_0/kernel": np.zeros((3, 3), np.float32)})
    with pytest.raises(PyccError, match="weights.npz"):
        load_engine(path)


# -------------------------------------------------- beam search, boundaries --

class ScriptedStepper:
    """A fake model that knows one text: it predicts the script's next character with high
    probability and `alternative` with less; off the script it predicts a newline. It
    implements the whole `Stepper` interface, as a GPT-2 stepper would."""

    vocab_size = 100

    def __init__(self, script: str, alternative: str = "x"):
        self.script = CharVocabulary().encode_document(script).astype(np.int64)
        self.alternative = CHARS.index(alternative)
        self.calls = 0

    def initial_state(self):
        return np.zeros(1, np.int64)

    def _logits(self, state):
        logits = np.zeros((len(state), 100))
        for row, pos in enumerate(state):
            if 0 <= pos < len(self.script):
                logits[row, self.script[pos]] = 9.0
                logits[row, self.alternative] = 6.0
            else:
                logits[row, CHARS.index("\n")] = 9.0
        return logits

    def _next(self, state, ids):
        ok = (state >= 0) & (state < len(self.script))
        match = ok & (self.script[np.clip(state, 0, len(self.script) - 1)] == ids)
        new = np.where(match, state + 1, -1)
        return self._logits(new), new

    def step(self, state, ids):
        self.calls += 1
        return self._next(state, np.asarray(ids))

    def advance(self, state, ids, keep=()):
        self.calls += 1
        kept = {}
        for k, i in enumerate(ids, 1):
            logits, state = self._next(state, np.array([i]))
            if k in keep:
                kept[k] = (logits[0], state)
        return logits[0], state, kept

    def select(self, state, rows):
        return state[np.asarray(rows, dtype=np.intp)]

    def stack(self, states):
        return np.concatenate(states)

    def nbytes(self, state):
        return state.nbytes


SCRIPT = "import numpy as np\nname = 'hello world'\nprint(name.upper())\n"


def scripted_engine(**settings) -> LSTMEngine:
    return LSTMEngine(ScriptedStepper(SCRIPT), name="scripted", settings=EngineSettings(**settings))


def texts(suggestions):
    return [s.text for s in suggestions]


def test_word_mode_stops_at_the_end_of_the_identifier():
    got = scripted_engine().complete("import nu", n=5)
    assert got[0].text == "mpy"
    assert all(set(s.text) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") for s in got)
    attribute = SCRIPT[:SCRIPT.index("upper")]  # "...print(name."
    assert scripted_engine().complete(attribute, n=3)[0].text == "upper"


def test_line_mode_runs_to_the_end_of_the_line():
    got = scripted_engine().complete("import ", n=5)
    assert got[0].text == "numpy as np"
    assert all("\n" not in s.text and s.text for s in got)


def test_string_mode_stops_after_the_closing_quote():
    got = scripted_engine().complete("import numpy as np\nname = 'hel", n=3)
    assert got[0].text == "lo world'"
    assert all(s.text.endswith("'") or "'" not in s.text for s in got)


def test_suggestions_are_ranked_distinct_and_deterministic():
    engine = scripted_engine()
    first = engine.complete("import ", n=5)
    scores = [s.score for s in first]
    assert scores == sorted(scores, reverse=True)
    assert len(set(texts(first))) == len(first) == 5
    assert all(0 < s <= 1 for s in scores)
    assert first == engine.complete("import ", n=5) == scripted_engine().complete("import ", n=5)


def test_random_model_beam_is_deterministic(random_model_dir):
    a = load_engine(random_model_dir)
    b = load_engine(random_model_dir)
    for text in ("import o", "def f(x):\n    return ", "x = 'ab", ""):
        got = a.complete(text, n=7)
        assert texts(got) == texts(b.complete(text, n=7))
        assert texts(got) == texts(a.complete(text, n=7, document="d"))
        assert len(got) <= 7 and len(set(texts(got))) == len(got)


def test_max_chars_is_never_exceeded(random_model_dir):
    engine = load_engine(random_model_dir)
    for limit in (1, 3, 12):
        for text in ("import ", "x = ", "y = 'abc"):
            assert all(1 <= len(s.text) <= limit for s in engine.complete(text, n=5, max_chars=limit))
    assert all(len(s.text) <= 8 for s in scripted_engine().complete("import ", max_chars=8))


def test_lookahead_cuts_open_lines_back_to_a_word_end():
    got = scripted_engine(lookahead=8).complete("import ", n=1)
    assert texts(got) == ["numpy as"]


@pytest.mark.parametrize("line, quote", [
    ("x = 'abc", "'"), ('x = "abc', '"'), ("x = 'a' + 'b", "'"), ("x = 'it\\'s", "'"),
    ("x = 'done'", None), ("# it's", None), ('x = """doc', None), ("x = '''a''' + \"b", '"'),
])
def test_open_string_detection(line, quote):
    assert open_string_quote(line) == quote


@pytest.mark.parametrize("text, kind", [
    ("import nu", "word"), ("os.", "word"), ("f(x).", "word"), ("x = 12", "word"), ("x = 1.", "line"),
    ("import ", "line"), ("x = (", "line"), ("", "line"), ("s = 'ab", "string"), ("a\nb = \"", "string"),
])
def test_boundary_rule_kinds(text, kind):
    assert boundary_rule(text).kind == kind


def test_escaped_quote_does_not_close_the_string():
    engine = LSTMEngine(ScriptedStepper("s = 'it\\'s'\n"), settings=EngineSettings())
    assert engine.complete("s = 'it\\", n=1)[0].text == "'s'"


# ------------------------------------------------------------ incremental --

def test_incremental_state_equals_full_recompute(random_model_dir):
    engine = load_engine(random_model_dir)
    fresh = load_engine(random_model_dir)
    edits = [SAMPLE[:k] for k in range(0, 80, 7)] + [SAMPLE[:50], SAMPLE[:50] + "xyz", SAMPLE[:33],
                                                       SAMPLE, SAMPLE[:-1], "other text", SAMPLE]
    for text in edits:
        incremental = engine.next_logprobs(text, document="doc")
        np.testing.assert_allclose(incremental, fresh.next_logprobs(text), atol=1e-5)
        entry = engine.cache.entry("doc")
        _, state = entry.checkpoints[len(entry.context)]
        _, full_state, _ = fresh.stepper.advance(fresh.stepper.initial_state(),
                                                 CharVocabulary().encode_document(text))
        np.testing.assert_allclose(state.h, full_state.h, atol=1e-5)
        np.testing.assert_allclose(state.c, full_state.c, atol=1e-5)
    assert texts(engine.complete(SAMPLE, document="doc")) == texts(fresh.complete(SAMPLE))


def test_only_new_characters_are_stepped():
    stepper = ScriptedStepper(SCRIPT)
    engine = LSTMEngine(stepper, settings=EngineSettings())
    engine.next_logprobs("import numpy", document="d")
    stepped = []
    original = stepper.step
    stepper.step = lambda state, ids: stepped.append(len(ids)) or original(state, ids)
    engine.next_logprobs("import numpy as", document="d")  # three new characters: one advance call
    engine.next_logprobs("import numpy as ", document="d")
    assert stepped == [1]  # the last request stepped its single new character only


def test_typing_the_predicted_text_reuses_the_beam_tree():
    def rows_stepped(engine, text):
        stepper, rows = engine.stepper, []
        step, advance = stepper.step, stepper.advance
        stepper.step = lambda state, ids: rows.append(len(ids)) or step(state, ids)
        stepper.advance = lambda *a, **k: rows.append("advance") or advance(*a, **k)
        try:
            return engine.complete(text, document="d"), rows
        finally:
            del stepper.step, stepper.advance

    engine = scripted_engine()
    assert engine.complete("import ", document="d")[0].text == "numpy as np"
    again, rows = rows_stepped(engine, "import numpy ")  # typed along the top suggestion
    fresh, fresh_rows = rows_stepped(scripted_engine(), "import numpy ")
    assert texts(again) == texts(fresh) and again[0].text == "as np"
    assert "advance" not in rows  # the typed text's state came from the tree
    assert sum(rows) < sum(r for r in fresh_rows if r != "advance")
    accepted, rows = rows_stepped(engine, "import numpy as np")  # accepting a suggestion
    assert rows.count("advance") == 0


def test_window_mode_uses_the_last_characters():
    engine = LSTMEngine(ScriptedStepper(SCRIPT), settings=EngineSettings(context="window", window=100))
    long_prefix = "#" * 500 + "\n"
    assert engine._context(long_prefix + "import ") == CharVocabulary().encode(
        (long_prefix + "import ")[-100:]).tobytes()
    with pytest.raises(PyccError):
        EngineSettings(context="window", window=50).validate()


def test_long_documents_are_read_from_a_line_start_and_stay_incremental(random_model_dir):
    engine = load_engine(random_model_dir, {"document_chars": 200})
    text = "".join(f"line_{k} = {k} * 2\n" for k in range(100))  # about 1,500 characters
    context = engine._context(text)
    assert 100 <= len(context) <= 200
    start = len(text) - len(context)
    assert text[start - 1] == "\n"  # a line start, read from a zero state without the boundary
    np.testing.assert_allclose(engine.next_logprobs(text), fresh_log_probs(engine.stepper, text[start:]), atol=1e-5)
    advances = []
    advance = engine.stepper.advance
    engine.stepper.advance = lambda *a, **k: advances.append(len(a[1])) or advance(*a, **k)
    for end in range(len(text) - 120, len(text) + 1):  # typing the last lines
        engine.next_logprobs(text[:end], document="long")
    assert len(advances) <= 1 + -(-120 // 50)  # the first request, and a jump every 200 // 4 characters


def fresh_log_probs(stepper, text):
    logits, _, _ = stepper.advance(stepper.initial_state(), CharVocabulary().encode(text))
    from pycodecomplete.engine.numeric import log_softmax
    return log_softmax(logits)


# ------------------------------------------------------------------- cache --

def test_cache_keeps_at_most_max_documents(random_model_dir):
    engine = load_engine(random_model_dir, {"cache_documents": 3})
    for k in range(10):
        engine.complete(f"x{k} = ", n=2, document=f"doc{k}")
        assert len(engine.cache) <= 3
    assert [f"doc{k}" in engine.cache for k in range(10)] == [False] * 7 + [True] * 3
    engine.complete("x7 = 1", document="doc7")  # touch: doc7 becomes most recent
    engine.complete("y", document="new")
    assert "doc7" in engine.cache and "doc8" not in engine.cache


def test_cache_stays_within_its_byte_limit(random_model_dir):
    probe = load_engine(random_model_dir)
    probe.complete(SAMPLE[:60], document="probe")
    limit = int(probe.cache.nbytes * 3.5)
    engine = load_engine(random_model_dir, {"cache_bytes": limit})
    for k in range(30):
        engine.complete(SAMPLE[: 20 + 3 * k], document=f"doc{k}")
        assert engine.cache.nbytes <= limit
    assert 0 < len(engine.cache) < 30


def test_concurrent_requests_for_one_document_do_not_corrupt_it(random_model_dir):
    engine = load_engine(random_model_dir)
    fresh = load_engine(random_model_dir)
    prefixes = [SAMPLE[:k] for k in range(1, len(SAMPLE), 5)]
    expected = {p: fresh.next_logprobs(p) for p in prefixes}
    errors = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for _ in range(40):
            p = prefixes[rng.integers(len(prefixes))]
            got = engine.next_logprobs(p, document="shared")
            if np.abs(got - expected[p]).max() > 1e-5:
                errors.append(p)
            engine.complete(p, n=2, document="shared")

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


# ---------------------------------------------------------------- generate --

def test_generate_is_reproducible_with_a_seed(random_model_dir):
    engine = load_engine(random_model_dir)
    a = "".join(engine.generate("def ", chars=60, temperature=0.8, seed=3))
    b = "".join(engine.generate("def ", chars=60, temperature=0.8, seed=3))
    c = "".join(engine.generate("def ", chars=60, temperature=0.8, seed=4))
    assert a == b and a != c and len(a) <= 60
    assert not set(a) & set("\x0b\x0c\r")
    greedy = "".join(LSTMEngine(ScriptedStepper(SCRIPT)).generate("import ", chars=11, temperature=0))
    assert greedy == "numpy as np"


def test_serving_never_imports_tensorflow(random_model_dir):
    code = (
        "import sys; from pycodecomplete.engine import load_engine; import webapp, pycodecomplete.cli;"
        f"e = load_engine({str(random_model_dir)!r}); e.complete('import o');"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_shipped_lstm_completes_the_dunder_init():
    """Through the CLI, in a fresh interpreter: `def __in` -> `it__`."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.paths import shipped_model_dir

    shipped = ModelArtifact.load(shipped_model_dir())
    assert shipped.config.arch == "lstm"
    assert shipped.weights()["output/kernel"].shape == (shipped.config.lstm_units, 100)
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "complete", "--json", "--n", "5",
                           "--model", str(shipped.path), "class Foo:\n    def __in"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "it__" in [s["text"] for s in json.loads(proc.stdout)["suggestions"]]
