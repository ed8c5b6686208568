"""The completion engine: a model directory in, ranked suggestions out.

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
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, fields
from typing import Iterator

import numpy as np

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.engine.beam import NEVER, Suggestion, beam_search, boundary_rule, log_softmax
from pycodecomplete.engine.cache import DocumentCache, DocumentEntry
from pycodecomplete.engine.stepper import LSTMStepper
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import BOUNDARY, CHARS, CharVocabulary, normalize_newlines

log = logging.getLogger(__name__)

CONTEXTS = ("document", "window")
RUNTIMES = ("onnx", "numpy")
# With lookahead=0 ("auto"), a search may take as many batched steps as stream about
# this many bytes of weights: 4 for the 4x512 paper model (28 MB per step, ~1.4 ms for
# 5 beams on a 2-core CPU, so a keystroke stays near 10 ms), 41 for the cpu preset.
AUTO_LOOKAHEAD_BYTES = 128 * 2**20
AUTO_LOOKAHEAD_RANGE = (4, 48)


@dataclass
class EngineSettings:
    context: str = "document"  # "document": carry state over the whole text; "window": last `window` chars
    window: int = 100  # characters of context in window mode (at least 100)
    # Document mode reads at most this many characters (0: no limit). Longer documents are
    # read from a line start that moves in steps of a quarter of this, so typing stays
    # incremental and a huge text cannot tie a worker up for long.
    document_chars: int = 20_000
    beam_width: int = 5  # beams kept per step (raised to n when a request asks for more)
    lookahead: int = 0  # most characters a suggestion may explore; 0 = auto from the model's size
    max_chars: int = 40  # default suggestion length limit when a request gives none
    # Shortest suggestion offered: a 1-character suggestion never saves a keystroke.
    # Chosen from keystroke savings on held-out code (trained-models/README.md).
    min_chars: int = 3
    cache_documents: int = 256  # documents whose state is kept (LRU)
    cache_bytes: int = 64 * 2**20  # memory for kept states, all documents together (LRU)
    checkpoint_every: int = 32  # keep the state every this many characters (cheap edits/backspaces)
    recent_checkpoints: int = 8  # ... and at each of the last this many characters
    tree_nodes: int = 64  # beam-tree nodes kept per document for the next keystroke (shallowest first)
    # Where beam steps run: "onnx" (ONNX Runtime; several times faster for batches of
    # beams, see engine/onnx_lstm.py) or "numpy" (no extra dependency). Both are exact.
    runtime: str = "onnx"
    threads: int = 0  # threads for the model's matrix products; 0 = every core of this machine

    def validate(self) -> "EngineSettings":
        if self.context not in CONTEXTS:
            raise PyccError(f"engine: context must be one of {', '.join(CONTEXTS)}, not {self.context!r}")
        if self.runtime not in RUNTIMES:
            raise PyccError(f"engine: runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.threads < 0:
            raise PyccError("engine: threads cannot be negative (0 means every core)")
        if self.window < 100:
            raise PyccError(f"engine: window must be at least 100 characters, not {self.window}")
        for name in ("beam_width", "max_chars", "min_chars", "cache_documents", "cache_bytes", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise PyccError(f"engine: {name} must be at least 1, not {getattr(self, name)}")
        if self.document_chars < 0:
            raise PyccError("engine: document_chars cannot be negative (0 means no limit)")
        if self.document_chars and self.document_chars < self.window:
            raise PyccError(f"engine: document_chars must be 0 or at least the window ({self.window})")
        if self.lookahead < 0 or self.recent_checkpoints < 0 or self.tree_nodes < 1:
            raise PyccError("engine: lookahead and recent_checkpoints cannot be negative, tree_nodes must be >= 1")
        return self

    @classmethod
    def from_mapping(cls, mapping: dict | None) -> "EngineSettings":
        mapping = dict(mapping or {})
        unknown = set(mapping) - {f.name for f in fields(cls)}
        if unknown:
            raise PyccError(f"engine: unknown setting(s): {', '.join(sorted(unknown))}")
        try:
            return cls(**mapping).validate()
        except TypeError as exc:
            raise PyccError(f"engine: bad settings ({exc})") from None


def load_stepper(artifact: ModelArtifact, settings: EngineSettings | None = None):
    """The stepper for a model directory's architecture and the runtime (the one place to add one)."""
    settings = settings or EngineSettings()
    if artifact.config.arch == "lstm":
        if settings.runtime == "onnx":
            from pycodecomplete.engine.onnx_lstm import OnnxLSTMStepper
            return OnnxLSTMStepper.from_artifact(artifact, threads=settings.threads or os.cpu_count() or 1)
        return LSTMStepper.from_artifact(artifact)
    raise PyccError(f"{artifact.path}: serving arch {artifact.config.arch!r} is not supported yet")


class CompletionEngine:
    """Thread-safe: one engine serves all requests of a process."""

    def __init__(self, stepper, *, name: str = "model", settings: EngineSettings | None = None,
                 artifact: ModelArtifact | None = None):
        self.stepper = stepper
        self.name = name
        self.artifact = artifact
        self.settings = (settings or EngineSettings()).validate()
        self.vocab = CharVocabulary()
        if getattr(stepper, "vocab_size", CharVocabulary.size) != CharVocabulary.size:
            raise PyccError(f"engine: model has {stepper.vocab_size} outputs, the vocabulary {CharVocabulary.size}")
        self.lookahead = self.settings.lookahead or self._auto_lookahead()
        self.cache = DocumentCache(self.settings.cache_documents, self.settings.cache_bytes)
        self._initial = stepper.initial_state()

    @classmethod
    def from_model_dir(cls, path, settings: EngineSettings | dict | None = None) -> "CompletionEngine":
        artifact = ModelArtifact.load(path)
        if artifact.config.arch == "gpt2":  # GPT-2 family: BPE tokens, KV cache, its own search (engine/gpt.py)
            from pycodecomplete.engine.gpt import GPTCompletionEngine
            return GPTCompletionEngine.from_artifact(artifact, settings)
        vocabulary = artifact.manifest.get("vocabulary") or {}
        if vocabulary.get("kind", "char") != "char":
            raise PyccError(f"{path}: vocabulary kind {vocabulary.get('kind')!r} is not served yet")
        try:
            CharVocabulary.from_json(vocabulary)
        except ValueError as exc:
            raise PyccError(f"{path}: {exc}") from None
        if not isinstance(settings, EngineSettings):
            settings = EngineSettings.from_mapping(settings)
        engine = cls(load_stepper(artifact, settings), name=artifact.name, settings=settings, artifact=artifact)
        log.info("loaded model %s from %s (lookahead %d, runtime %s)", engine.name, path, engine.lookahead,
                 getattr(engine.stepper, "runtime", "numpy"))
        return engine

    def _auto_lookahead(self) -> int:
        weight_bytes = getattr(self.stepper, "weight_bytes", 0)
        low, high = AUTO_LOOKAHEAD_RANGE
        if not weight_bytes:
            return high
        return max(low, min(high, AUTO_LOOKAHEAD_BYTES // weight_bytes))

    # ------------------------------------------------------------------ public API

    def warm(self) -> None:
        """Get this process ready to answer fast: runtime sessions built, code paths run once.

        Servers call it in each worker after the fork (sessions do not survive one)."""
        if hasattr(self.stepper, "warm"):
            self.stepper.warm()
        self.complete("import ", n=1)

    def complete(self, text: str, n: int = 5, max_chars: int | None = None,
                 document: str | None = None) -> list[Suggestion]:
        """Up to `n` ranked suggestions for the cursor at the end of `text`."""
        if n < 1:
            return []
        text = normalize_newlines(text)
        max_chars = max_chars or self.settings.max_chars
        context = self._context(text)
        entry = self.cache.entry(document) if document is not None else DocumentEntry(None)
        with entry.lock:
            nodes = self._prepare(entry, context)
            suggestions, visited = beam_search(
                self.stepper, nodes, boundary_rule(text), CHARS, n=n, width=self.settings.beam_width,
                max_chars=max_chars, lookahead=self.lookahead,
                min_chars=min(self.settings.min_chars, max_chars))
            if len(visited) > self.settings.tree_nodes:
                keep = sorted(visited, key=lambda k: (len(k), k))[:self.settings.tree_nodes]
                visited = {k: visited[k] for k in keep}
            entry.nodes = visited
            if document is not None:
                self.cache.resize(entry, self._entry_bytes(entry))
        return suggestions

    def next_logprobs(self, text: str, document: str | None = None) -> np.ndarray:
        """Log-probabilities (float32, over `CHARS`) of the character after `text`."""
        text = normalize_newlines(text)
        entry = self.cache.entry(document) if document is not None else DocumentEntry(None)
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
        ids = self.vocab.encode_document(normalize_newlines(prompt))
        logits, state, _ = self.stepper.advance(self._initial, ids)
        banned = np.array([c in NEVER and c != BOUNDARY for c in CHARS])
        if max_length is not None or top_k or top_p < 1.0 or beams > 1 or no_repeat_ngram:
            # top-k, top-p, beams, n-gram ban, step limit: shared with the GPT family (engine/generation.py)
            from pycodecomplete.engine.generation import GenerationOptions, continue_text
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

    def info(self) -> dict:
        artifact = self.artifact
        data = {"name": self.name, "engine": {**asdict(self.settings), "lookahead_effective": self.lookahead}}
        if artifact is not None:
            data.update({
                "path": str(artifact.path),
                "format_version": artifact.manifest.get("format_version"),
                "config": artifact.config.to_dict(),
                "vocabulary": artifact.manifest.get("vocabulary"),
                "summary": artifact.summary(),
                "metrics": artifact.metrics(),
            })
        return data

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

    def _prepare(self, entry: DocumentEntry, context: bytes) -> dict:
        """Bring `entry` to `context`; return the beam tree rooted at its end."""
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
        common = _common_prefix(old, context)
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
            keep = [p - start for p in range(start + 1, len(context)) if self._keep_position(p, len(context))]
            logits, new_state, kept = self.stepper.advance(state, ids, keep=keep)
            for offset, (kept_logits, kept_state) in kept.items():
                entry.checkpoints[start + offset] = (_log_probs(kept_logits), kept_state)
            root = (_log_probs(logits), new_state)
        entry.checkpoints[len(context)] = root
        self._finish(entry, context)
        return {"": root}

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


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the common prefix of two byte strings (fast for long equal runs)."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    x = np.frombuffer(a, dtype=np.uint8, count=n)
    y = np.frombuffer(b, dtype=np.uint8, count=n)
    return int(np.argmax(x != y))
