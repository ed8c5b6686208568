"""The GPT-2 family's engine: BPE context with token healing, completion, generation.

**Completion.** The document (newlines normalised, as in training) is encoded
after ``</s>``, the file separator the model saw before every file. A longer
document is cut at a line start on a deterministic grid (`_cut`) so that it fits
the context with room for the search, and so that consecutive keystrokes share
their context and its KV cache (training samples also start at file or line
starts). The last pre-tokenizer chunk (at most `MAX_HEALED_TOKENS` tokens) is
taken back and re-emitted by the search ("token healing": `engine.gpt2.search`).
The tree of the document's last search is reused when the new text extends the
old one along it (typing inside a token or along a suggestion needs no model
step); answers are identical with and without the per-document cache.

**Generation** samples (temperature, top-k, top-p, seeded) or beam-searches
(GPyT: 10 beams, no repeated 5-grams) a continuation, and stops at ``</s>``
(`engine.generation`).
"""
from __future__ import annotations

import logging
import math
import os
from typing import Iterator

import numpy as np

from pycodecomplete.bpe import FIM_MIDDLE_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID, SEPARATOR_ID, BPETokenizer
from pycodecomplete.engine.base import Engine, clean_text
from pycodecomplete.engine.cache import DocumentEntry
from pycodecomplete.engine.generation import GenerationOptions, beam_search, continue_text
from pycodecomplete.engine.gpt2.search import TokenSearch
from pycodecomplete.engine.gpt2.stepper import GPTStepper
from pycodecomplete.engine.numeric import common_prefix, log_softmax
from pycodecomplete.engine.settings import GPTSettings
from pycodecomplete.engine.text import Suggestion, boundary_rule
from pycodecomplete.errors import PyccError

log = logging.getLogger(__name__)
MAX_HEALED_TOKENS = 4


def load_stepper(artifact, settings: GPTSettings) -> GPTStepper:
    """The stepper for the settings' runtime: ONNX Runtime (float32 or int8 weights), or numpy."""
    if settings.runtime == "onnx":
        from pycodecomplete.engine.gpt2.onnx import OnnxGPTStepper
        return OnnxGPTStepper.from_artifact(artifact, threads=settings.threads or os.cpu_count() or 1,
                                            int8=settings.int8)
    return GPTStepper.from_artifact(artifact)


def _trained_with_fim(artifact) -> bool:
    """Whether the weights learned the fill-in-the-middle layout, not only the tokenizer's sentinels.

    A tokenizer given the sentinels by `pycc tokenizer add-fim`, or a child trained
    with `fim_rate=0`, has them without the training: such a model read the suffix
    worse than it cut against it (the edit benchmark: 36.4% of keystrokes saved against 43.6%).
    The training summary records `fim_rate`; a directory without the record is
    trusted to its tokenizer.
    """
    if artifact is None:
        return True
    rate = artifact.summary().get("fim_rate")
    return rate is None or rate > 0


class GPTEngine(Engine):
    """The GPT-2 family's engine: complete, generate, info. Thread-safe."""

    family = "gpt2"
    settings_class = GPTSettings
    lookahead_unit = "tokens"

    def __init__(self, stepper: GPTStepper, tokenizer: BPETokenizer, *, name: str = "model",
                 settings: GPTSettings | dict | None = None, artifact=None):
        super().__init__(stepper, name=name, settings=settings, artifact=artifact)
        self.tokenizer = tokenizer
        if tokenizer.vocab_size > stepper.vocab_size:
            raise PyccError(f"engine: tokenizer has {tokenizer.vocab_size} tokens, the model {stepper.vocab_size}")
        self.tokens = TokenSearch(stepper, tokenizer.token_bytes() + [b""] * (stepper.vocab_size - tokenizer.vocab_size))
        self._initial = stepper.initial_state()
        self.reads_suffix = tokenizer.fim and _trained_with_fim(artifact)
        self._cut_hint = 0  # `_cut`'s last answer, a hint only (racing threads cannot change results)

    @classmethod
    def from_artifact(cls, artifact, settings: GPTSettings | dict | None = None) -> "GPTEngine":
        settings = GPTSettings.from_mapping(settings)
        engine = cls(load_stepper(artifact, settings), BPETokenizer.from_artifact(artifact),
                     name=artifact.name, settings=settings, artifact=artifact)
        log.info("GPT-2 %s: %d tokens, context %d, runtime %s%s", engine.name, engine.stepper.vocab_size,
                 engine.stepper.max_positions, engine.stepper.runtime, " int8" if settings.int8 else "")
        return engine

    def lookahead_tokens(self, max_chars: int) -> int:
        if self.settings.lookahead:
            return self.settings.lookahead
        return int(min(24, max(4, math.ceil(max_chars / 2))))

    def _search(self, entry: DocumentEntry, text: str, n: int, max_chars: int,
                deadline=None, suffix: str = "") -> tuple[list[Suggestion], dict]:
        # The read (tokenizing, prefill) is bounded by the context, not the text; the
        # search stops at the time budget (`engine.budget`).
        steps = self.lookahead_tokens(max_chars)
        fill = bool(suffix) and self.reads_suffix  # a FIM-trained model reads the suffix too
        if fill:
            ids, healed = self._fim_prompt(text, suffix, room=steps + 1)
        else:
            ids, healed = self._prompt(text, room=steps + 1)
        nodes = self._root(entry, ids)
        return self.tokens.search(nodes, healed, boundary_rule(text), n=n, width=max(self.settings.beam_width, n),
                                  max_chars=max_chars, steps=steps, min_chars=self.settings.min_chars,
                                  deadline=deadline, end_ids=(SEPARATOR_ID,) if fill else ())

    def _fim_prompt(self, text: str, suffix: str, room: int) -> tuple[np.ndarray, bytes]:
        """The fill-in-the-middle layout of training (`ml/gpt2/fim.py`): prefix, suffix, then the middle.

        The suffix gets at most a quarter of the context, whole lines first; the prefix
        is read as without a suffix in what is left, its last word taken back to be
        re-emitted in the middle (the middle of a training chunk starts anywhere).
        """
        limit = max(1, (self.stepper.max_positions - room) // 4)
        suffix_ids = self.tokenizer.encode(suffix[: limit * self.tokens.max_token_bytes])[:limit]
        ids, healed = self._prompt(text, room=room + len(suffix_ids) + 3)
        head = [SEPARATOR_ID] if len(ids) and ids[0] == SEPARATOR_ID else []
        body = ids[len(head):]
        layout = [*head, FIM_PREFIX_ID, *body.tolist(), FIM_SUFFIX_ID, *suffix_ids.tolist(), FIM_MIDDLE_ID]
        return np.array(layout, np.int32), healed

    def _engine_info(self) -> dict:
        return {"context_tokens": self.stepper.max_positions, "reads_suffix": self.reads_suffix,
                "runtime_effective": self.stepper.runtime,
                "int8_effective": bool(getattr(self.stepper, "int8", False))}

    def next_token_logprobs(self, text: str, document: str | None = None) -> tuple[np.ndarray, np.ndarray, bytes]:
        """(context ids, log-probs of the token after them, healed bytes) for a cursor after `text`.

        The context is the one `complete` reads (last token taken back); with a
        `document`, through the same per-document cache.
        """
        entry = self._entry(document)
        with entry.lock:
            ids, healed = self._prompt(clean_text(text), room=1)
            logits, _ = self._prefill(entry, ids)
            if document is not None:
                self.cache.resize(entry, self.stepper.nbytes(entry.checkpoints["state"]) + len(entry.context))
        return (np.concatenate([[SEPARATOR_ID], ids]) if len(ids) == 0 else ids), log_softmax(logits), healed

    def generate(self, prompt: str, chars: int = 300, temperature: float = 0.8, seed: int | None = None, *,
                 max_length: int | None = None, top_k: int = 0, top_p: float = 1.0, beams: int = 1,
                 no_repeat_ngram: int = 0) -> Iterator[str]:
        """A continuation of `prompt`: sampled, greedy (temperature 0) or beam-searched.

        Stops at ``</s>`` (the model ends the file), after `max_length` tokens or
        after `chars` characters, whichever comes first. Yields text pieces. See
        `engine.generation`; a sampled text longer than the context slides on.
        """
        options = GenerationOptions(chars=chars, max_length=max_length, temperature=temperature, top_k=top_k,
                                    top_p=top_p, seed=seed, beams=beams, no_repeat_ngram=no_repeat_ngram)
        ids, healed = self._prompt(clean_text(prompt), room=1)
        logits, state = self._prefill(DocumentEntry(None), ids)
        yield from continue_text(
            self.stepper, state, logits, token_bytes=self.tokens.token_bytes, stop_id=SEPARATOR_ID,
            allowed=~self.tokens.special, options=options, history=[int(i) for i in ids], pending=healed,
            heal_mask=self.tokens.heal_mask, room=self.stepper.max_positions - state.length, slide=self._slide)

    def beam_search_tokens(self, prompt: str, max_length: int | None, beams: int,
                           no_repeat_ngram: int) -> tuple[list[int], list[int], bytes]:
        """(prompt ids, best continuation ids, healed bytes) of a beam-search generation."""
        options = GenerationOptions(max_length=max_length, beams=beams, no_repeat_ngram=no_repeat_ngram)
        ids, healed = self._prompt(clean_text(prompt), room=1)
        logits, state = self._prefill(DocumentEntry(None), ids)
        history = [int(i) for i in ids]
        best = beam_search(self.stepper, state, logits, token_bytes=self.tokens.token_bytes, stop_id=SEPARATOR_ID,
                           allowed=~self.tokens.special, options=options, history=history, pending=healed,
                           heal_mask=self.tokens.heal_mask, room=self.stepper.max_positions - state.length)
        return history, best, healed

    # ------------------------------------------------------------------ context

    def _prompt(self, text: str, room: int) -> tuple[np.ndarray, bytes]:
        """Context ids for a cursor after `text` (last token taken back) and the healed bytes."""
        if self.settings.context == "window":
            text = text[-self.settings.window:]
        budget = self.stepper.max_positions - room
        if budget < 2:
            raise PyccError(f"engine: the model's context ({self.stepper.max_positions} tokens) leaves no "
                            f"room for {room} tokens of search")
        start, head = 0, [SEPARATOR_ID]
        # No token holds more than `max_token_bytes` characters: longer texts cannot fit whole.
        whole = len(text) <= budget * self.tokens.max_token_bytes
        if whole:
            ids, offsets = self.tokenizer.encode_with_offsets(text)
        if not whole or len(ids) + 1 > budget:
            start, head = self._cut(text, budget), []
            ids, offsets = self.tokenizer.encode_with_offsets(text[start:])
        # Token healing: take back the tokens of the last pre-tokenizer chunk (at most 4), which
        # more typing could merge differently ("except Imp" is ` I`+`mp`; ` ImportError` is one).
        word = self.tokenizer.last_word_start(text[start:]) if len(ids) else 0
        keep = len(ids)
        while keep > 0 and len(ids) - keep < MAX_HEALED_TOKENS and (keep == len(ids) or offsets[keep - 1][0] >= word):
            keep -= 1
        healed = b"".join(self.tokens.token_bytes[int(i)] for i in ids[keep:])
        return np.concatenate([np.array(head, np.int32), ids[:keep]]).astype(np.int32), healed

    def _cut(self, text: str, budget: int) -> int:
        """Where to start reading a `text` too long for `budget` tokens: a line start on a grid.

        The candidates are, for k = 1, 2, ..., the first line start at or after
        k * `budget` characters; the cut is the first one from which the rest fits.
        It is a function of the text alone (the same with or without a cache), and
        as a document grows it moves only every `budget` characters or so, so
        consecutive keystrokes share their context and its KV cache. When the last
        line alone is too long, the cut falls inside it, as late as needed.
        """
        step = max(16, budget)
        fits = lambda cut: self.tokenizer.count(text[cut:]) <= budget  # noqa: E731

        def point(k: int) -> int | None:
            newline = text.find("\n", k * step - 1)
            return newline + 1 if 0 <= newline < len(text) - 1 else None

        def ok(k: int) -> bool:
            cut = point(k)
            return cut is None or fits(cut)

        low = max(1, (len(text) - budget * self.tokens.max_token_bytes) // step)
        high = len(text) // step + 1
        # The last request's k is the answer while typing goes on (the cut moves every
        # `budget` characters or so): two counts instead of a bisection's five. Any hint
        # gives the same answer, the first k for which `ok` holds (monotone in k).
        hint = self._cut_hint
        if low <= hint <= high and ok(hint) and (hint == low or not ok(hint - 1)):
            low = high = hint
        while low < high:  # the first k whose line start exists and fits (both monotone in k)
            mid = (low + high) // 2
            if ok(mid):
                high = mid
            else:
                low = mid + 1
        self._cut_hint = low
        cut = point(low)
        if cut is not None and fits(cut):
            return cut
        low, high = text.rfind("\n", 0, len(text) - 1) + 1, len(text) - 1  # inside the last line
        while low < high:
            mid = (low + high) // 2
            if fits(mid):
                high = mid
            else:
                low = mid + 1
        return low

    def _root(self, entry: DocumentEntry, ids: np.ndarray) -> dict:
        """The search tree rooted after `ids`: {generated ids: (log-probs, batch-1 state)}.

        The tree of the document's last completion is reused when the new context
        extends the old one by a path of that tree: typing inside a token, or
        typing what was suggested, then needs no model step. Its nodes are exact
        states, so results never depend on what was cached.
        """
        old = np.frombuffer(entry.context, dtype=np.int32) if entry.context else None
        if old is not None and entry.nodes and len(ids) >= len(old) and np.array_equal(ids[:len(old)], old):
            extra = tuple(int(i) for i in ids[len(old):])
            if extra in entry.nodes:
                depth = len(extra)
                tree = {k[depth:]: v for k, v in entry.nodes.items() if k[:depth] == extra}
                entry.context = ids.astype(np.int32).tobytes()
                entry.checkpoints = {"state": tree[()][1]}
                return tree
        logits, state = self._prefill(entry, ids)
        return {(): (log_softmax(logits).astype(np.float32), state)}

    def _entry_bytes(self, entry: DocumentEntry) -> int:
        states = [entry.checkpoints.get("state")] + [state for _, state in entry.nodes.values()]
        prefixes = {id(s.prefix_k): s.prefix_k.nbytes * 2 for s in states if s is not None}
        suffixes = sum(s.suffix_k.nbytes * 2 for s in states if s is not None)
        return sum(prefixes.values()) + suffixes + 4 * self.stepper.vocab_size * len(entry.nodes) + len(entry.context)

    def _prefill(self, entry: DocumentEntry, ids: np.ndarray):
        """Logits after `ids` and the state, reusing the entry's cache for a common prefix."""
        if len(ids) == 0:  # an empty document: read the separator
            ids = np.array([SEPARATOR_ID], np.int32)
        old = np.frombuffer(entry.context, dtype=np.int32) if entry.context else np.zeros(0, np.int32)
        common = common_prefix(old, ids)
        if common >= len(ids):
            common = len(ids) - 1  # feed at least the last id, for its logits
        state = self._initial
        if common and "state" in entry.checkpoints:
            state = self.stepper.truncate(entry.checkpoints["state"], common)
        else:
            common = 0
        logits, state, _ = self.stepper.advance(state, ids[common:])
        entry.context = ids.astype(np.int32).tobytes()
        entry.checkpoints = {"state": state}
        entry.nodes = {}  # a search tree hangs off the context it was computed for
        return logits, state

    def _slide(self, history: list[int]):
        """Generation filled the context: re-read its last half, from a line start when possible."""
        keep = history[-(self.stepper.max_positions // 2):]
        for i, tok in enumerate(keep[:-1]):
            if self.tokens.token_bytes[tok].endswith(b"\n"):
                keep = keep[i + 1:]
                break
        logits, state, _ = self.stepper.advance(self._initial, np.array(keep))
        return state, logits, self.stepper.max_positions - state.length

    # ------------------------------------------------------------------ search


ENGINE = GPTEngine
