"""The char-LSTM's engine: a model directory in, ranked suggestions out.

Context (`EngineSettings.context`):

* ``"document"`` (default): the model reads the whole document from the start, as
  one stream that begins with the boundary character (training's convention for the
  start of a file), and its state is carried along. Incremental: a request that
  extends the previous text of the same `document` only steps the new characters.
  Documents over `document_chars` (20,000) are read from a line start at most that
  far back, which moves in coarse steps so that typing stays incremental.
* ``"window"``: the model reads only the last `window` characters before the cursor
  (at least 100) from a zero state, exactly like a training window (the boundary
  character leads when the document is shorter than the window). Once the text is
  longer than the window, every request re-reads the whole window.

Which one predicts better is for the quality evaluation to measure; both are exact.

**Time budget** (`engine.budget`): reading the unread part of a document is done in
chunks, and stops when the budget says so; what was read is kept for the next
request of that document, and this one is answered from its last 100 characters.
"""
from __future__ import annotations

import logging
import os
from typing import Iterator

import numpy as np

from pycodecomplete.engine.base import Engine, clean_text
from pycodecomplete.engine.budget import FALLBACK_CHARS, READ_CHUNK, Deadline
from pycodecomplete.engine.cache import DocumentEntry
from pycodecomplete.engine.generation import GenerationOptions, continue_text
from pycodecomplete.engine.lstm.search import beam_search
from pycodecomplete.engine.lstm.stepper import LSTMStepper
from pycodecomplete.engine.numeric import common_prefix, log_softmax
from pycodecomplete.engine.settings import LSTMSettings
from pycodecomplete.engine.text import NEVER, Suggestion, boundary_rule
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import BOUNDARY, CHARS, CharVocabulary

log = logging.getLogger(__name__)

# With lookahead=0 ("auto"), a search may take as many batched steps as stream about
# this many bytes of weights: 4 for the 4x512 paper model (28 MB per step, ~1.4 ms for
# 5 beams on a 2-core CPU, so a keystroke stays near 10 ms), 41 for the cpu preset.
AUTO_LOOKAHEAD_BYTES = 128 * 2**20
AUTO_LOOKAHEAD_RANGE = (4, 48)


def load_stepper(artifact, settings: LSTMSettings):
    """The stepper for the settings' runtime: ONNX Runtime for batched beam steps (float32 or
    int8 weights), or numpy."""
    if settings.runtime == "onnx":
        from pycodecomplete.engine.lstm.onnx import OnnxLSTMStepper
        return OnnxLSTMStepper.from_artifact(artifact, threads=settings.threads or os.cpu_count() or 1,
                                             int8=settings.int8)
    return LSTMStepper.from_artifact(artifact)


class LSTMEngine(Engine):
    """The char-LSTM family's engine. Thread-safe: one engine serves all requests of a process."""

    family = "lstm"
    settings_class = LSTMSettings
    lookahead_unit = "characters"

    def __init__(self, stepper, *, name: str = "model", settings: LSTMSettings | dict | None = None,
                 artifact=None):
        super().__init__(stepper, name=name, settings=settings, artifact=artifact)
        self.vocab = CharVocabulary()
        if getattr(stepper, "vocab_size", CharVocabulary.size) != CharVocabulary.size:
            raise PyccError(f"engine: model has {stepper.vocab_size} outputs, the vocabulary {CharVocabulary.size}")
        self.lookahead = self.settings.lookahead or self._auto_lookahead()
        self._initial = stepper.initial_state()

    @classmethod
    def from_artifact(cls, artifact, settings: LSTMSettings | dict | None = None) -> "LSTMEngine":
        vocabulary = artifact.manifest.get("vocabulary") or {}
        if vocabulary.get("kind", "char") != "char":
            raise PyccError(f"{artifact.path}: vocabulary kind {vocabulary.get('kind')!r} is not a char-LSTM vocabulary")
        try:
            CharVocabulary.from_json(vocabulary)
        except ValueError as exc:
            raise PyccError(f"{artifact.path}: {exc}") from None
        settings = LSTMSettings.from_mapping(settings)
        engine = cls(load_stepper(artifact, settings), name=artifact.name, settings=settings, artifact=artifact)
        log.info("char-LSTM %s: lookahead %d characters, runtime %s", engine.name, engine.lookahead,
                 getattr(engine.stepper, "runtime", "numpy"))
        return engine

    def _auto_lookahead(self) -> int:
        weight_bytes = getattr(self.stepper, "weight_bytes", 0)
        low, high = AUTO_LOOKAHEAD_RANGE
        if not weight_bytes:
            return high
        return max(low, min(high, AUTO_LOOKAHEAD_BYTES // weight_bytes))

    # ------------------------------------------------------------------ public API

    def next_logprobs(self, text: str, document: str | None = None) -> np.ndarray:
        """Log-probabilities (float32, over `CHARS`) of the character after `text`."""
        text = clean_text(text)
        entry = self._entry(document)
        with entry.lock:
            nodes = self._prepare(entry, self._context(text))
            entry.nodes = {"": nodes[""]}
            if document is not None:
                self.cache.resize(entry, self._entry_bytes(entry))
            return nodes[""][0]

    def generate(self, prompt: str, chars: int = 200, temperature: float = 0.8,
                 seed: int | None = None, *, max_length: int | None = None, top_k: int = 0,
                 top_p: float = 1.0, beams: int = 1, no_repeat_ngram: int = 0) -> Iterator[str]:
        """Sample a continuation one character at a time; stops early at an end of file."""
        rng = np.random.default_rng(seed)
        ids = self.vocab.encode_document(clean_text(prompt))
        logits, state, _ = self.stepper.advance(self._initial, ids)
        banned = np.array([c in NEVER and c != BOUNDARY for c in CHARS])
        if max_length is not None or top_k or top_p < 1.0 or beams > 1 or no_repeat_ngram:
            # top-k, top-p, beams, n-gram ban, step limit: shared with the GPT family (engine/generation.py)
            options = GenerationOptions(chars=chars, max_length=max_length, temperature=temperature,
                                        top_k=top_k, top_p=top_p, seed=seed, beams=beams,
                                        no_repeat_ngram=no_repeat_ngram)
            yield from continue_text(self.stepper, state, logits, token_bytes=[c.encode() for c in CHARS],
                                     stop_id=self.vocab.boundary_id, allowed=~banned, options=options,
                                     history=[int(i) for i in ids])
            return
        for _ in range(chars):
            logits = np.where(banned, -np.inf, np.asarray(logits, dtype=np.float64))
            if temperature <= 0:
                choice = int(np.argmax(logits))
            else:
                probs = np.exp(log_softmax(logits / temperature))
                choice = int(rng.choice(len(CHARS), p=probs / probs.sum()))
            if CHARS[choice] == BOUNDARY:
                return  # the model ended the file
            yield CHARS[choice]
            step_logits, state = self.stepper.step(state, np.array([choice]))
            logits = step_logits[0]

    def _search(self, entry: DocumentEntry, text: str, n: int, max_chars: int,
                deadline: Deadline | None = None, suffix: str = "") -> tuple[list[Suggestion], dict]:
        # The char-LSTM reads the text before the cursor only; the suffix rules still apply (`engine.suffix`).
        deadline = deadline or Deadline()
        nodes = self._prepare(entry, self._context(text), deadline)
        if nodes is None:  # the budget cut the read: answer from the last characters, cache nothing
            deadline.stop("read")
            nodes = self._prepare(DocumentEntry(None), self.vocab.encode(text[-FALLBACK_CHARS:]).tobytes())
        suggestions, visited = beam_search(
            self.stepper, nodes, boundary_rule(text), CHARS, n=n, width=self.settings.beam_width,
            max_chars=max_chars, lookahead=self.lookahead, min_chars=min(self.settings.min_chars, max_chars),
            deadline=deadline)
        return suggestions, ({} if deadline.cut == "read" else visited)

    def _engine_info(self) -> dict:
        return {"lookahead_effective": self.lookahead, "runtime_effective": getattr(self.stepper, "runtime", "numpy"),
                "int8_effective": bool(getattr(self.stepper, "int8", False))}

    # ------------------------------------------------------------------ internals

    def _context(self, text: str) -> bytes:
        """The model input for a cursor at the end of `text`, one byte per id."""
        settings = self.settings
        if settings.context == "window":
            return self.vocab.encode_document(text[-settings.window:])[-settings.window:].tobytes()
        limit = settings.document_chars
        if not limit or len(text) <= limit:
            return self.vocab.encode_document(text).tobytes()  # BOUNDARY first, as in training
        # Too long: start at a line start, from a zero state (as a training window may).
        step = max(1, limit // 4)
        start = ((len(text) - limit) // step + 1) * step
        newline = text.find("\n", start, start + step)
        start = newline + 1 if newline >= 0 else start
        return self.vocab.encode(text[start:]).tobytes()

    def _prepare(self, entry: DocumentEntry, context: bytes, deadline: Deadline | None = None) -> dict | None:
        """Bring `entry` to `context`; return the beam tree rooted at its end.

        None when `deadline` stopped the read first: `entry` then holds the
        context as far as it was read, and the next request continues from there.
        """
        old = entry.context
        if old and context.startswith(old):
            extra = context[len(old):]
            typed = "".join(CHARS[i] for i in extra)
            if typed in entry.nodes:  # predicted (or accepted) text: already computed
                start = len(old)
                nodes = {k[len(typed):]: v for k, v in entry.nodes.items() if k.startswith(typed)}
                for k in range(1, len(typed)):
                    if self._keep_position(start + k, len(context)):
                        entry.checkpoints[start + k] = entry.nodes[typed[:k]]
                entry.checkpoints[len(context)] = nodes[""]
                self._finish(entry, context)
                return nodes
        common = common_prefix(old, context)
        for position in [p for p in entry.checkpoints if p > common]:
            del entry.checkpoints[position]
        start = max(entry.checkpoints, default=0)
        state = entry.checkpoints[start][1] if start else self._initial
        ids = np.frombuffer(context[start:], dtype=np.uint8)
        if len(ids) == 0:
            root = entry.checkpoints[start]
        elif len(ids) == 1:
            logits, new_state = self.stepper.step(state, ids)
            root = (_log_probs(logits[0]), new_state)
        else:
            root = self._read(entry, context, start, state, deadline)
            if root is None:
                return None
        entry.checkpoints[len(context)] = root
        self._finish(entry, context)
        return {"": root}

    def _read(self, entry: DocumentEntry, context: bytes, start: int, state, deadline: Deadline | None):
        """Read `context[start:]` from `state` in chunks, keeping checkpoints; the root (log-probs,
        state) at its end, or None when the deadline stopped it (`entry` then ends where it got)."""
        end = len(context)
        while True:
            stop = min(end, start + READ_CHUNK)
            keep = [p - start for p in range(start + 1, stop) if self._keep_position(p, end)]
            logits, state, kept = self.stepper.advance(state, np.frombuffer(context[start:stop], np.uint8), keep=keep)
            for offset, (kept_logits, kept_state) in kept.items():
                entry.checkpoints[start + offset] = (_log_probs(kept_logits), kept_state)
            start = stop
            if start == end:
                return (_log_probs(logits), state)
            if deadline is not None and deadline.reading_over():
                entry.checkpoints[start] = (_log_probs(logits), state)
                entry.nodes = {}
                self._finish(entry, context[:start])
                return None

    def _keep_position(self, position: int, end: int) -> bool:
        return position % self.settings.checkpoint_every == 0 or position > end - self.settings.recent_checkpoints

    def _finish(self, entry: DocumentEntry, context: bytes) -> None:
        end = len(context)
        entry.context = context
        for position in [p for p in entry.checkpoints if p != end and not self._keep_position(p, end)]:
            del entry.checkpoints[position]

    def _entry_bytes(self, entry: DocumentEntry) -> int:
        seen, total = set(), len(entry.context)
        for logp, state in list(entry.checkpoints.values()) + list(entry.nodes.values()):
            if id(state) not in seen:
                seen.add(id(state))
                total += self.stepper.nbytes(state) + logp.nbytes
        return total


def _log_probs(logits) -> np.ndarray:
    return log_softmax(logits).astype(np.float32)


ENGINE = LSTMEngine
