"""GPT-2 inference in numpy: a KV-cache stepper, completion to boundaries, generation.

Never imports TensorFlow. Reads `weights.npz` (the keras-hub backbone's variables
under their Keras paths, see `pycodecomplete.ml.gpt.export_weights`) and
`tokenizer.json` (`pycodecomplete.bpe`).

**Stepper.** `GPTStepper` implements the engine's `Stepper` interface with a KV
cache as the state. A state is a *prefix* cache shared by all rows (batch 1) plus
a per-row *suffix* cache: the beams of a search share the document's keys and
values and only carry their own few tokens, so reordering beams copies a few rows,
never the document. A causal cache truncated to its first n positions is exactly
the state after n tokens, which makes checkpoints free.

**Completion.** The document (newlines normalised, as in training) is encoded
after ``</s>``, the file separator the model saw before every file. A longer
document is cut at a line start so that it fits the context with room for the
search (training samples also start at file or line starts). The cursor can sit
inside a token (``"import nu"`` is ``import`` + `` nu``, while ``import numpy``
is ``import`` + `` numpy``), so the last token is taken back ("token healing"):
the search must first re-emit its bytes, and only what follows them is suggested.
The search runs over tokens, but the boundary rules of `engine.beam` are
character rules, so every token's text is scanned character by character and the
suggestion is cut where its rule says (a word before the first non-word
character, a line before the newline, a string after its closing quote, never
more than `max_chars`). The probability that a suggestion ends at a boundary sums
over every token that starts with a boundary character. Suggestions and JSON are
the LSTM engine's (`Suggestion`).

**Generation** samples (temperature, top-k, top-p, seeded) or beam-searches
(GPyT: 10 beams, no repeated 5-grams) a continuation, and stops at ``</s>``.
"""
from __future__ import annotations

import bisect
import logging
import math
import threading
from dataclasses import asdict, dataclass
from typing import Iterator, Sequence

import numpy as np

from pycodecomplete.bpe import SEPARATOR_ID, SPECIAL_TOKENS, BPETokenizer
from pycodecomplete.engine.beam import NEVER, WORD_CHARS, Suggestion, boundary_rule, log_softmax
from pycodecomplete.engine.cache import DocumentCache, DocumentEntry
from pycodecomplete.engine.generation import GenerationOptions, beam_search, continue_text
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import normalize_newlines

log = logging.getLogger(__name__)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
MAX_HEALED_TOKENS = 4


# ------------------------------------------------------------------ stepper --

@dataclass(frozen=True)
class GPTState:
    """Keys and values: prefix (layers, 1, heads, Tp, head_dim), suffix (layers, B, heads, Ts, head_dim)."""

    prefix_k: np.ndarray
    prefix_v: np.ndarray
    suffix_k: np.ndarray
    suffix_v: np.ndarray

    @property
    def batch(self) -> int:
        return self.suffix_k.shape[1]

    @property
    def length(self) -> int:
        return self.prefix_k.shape[3] + self.suffix_k.shape[3]


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centered = x - mean
    var = np.mean(centered * centered, axis=-1, keepdims=True)
    return centered / np.sqrt(var + eps) * gamma + beta


def _gelu(x: np.ndarray) -> np.ndarray:
    """GPT-2's tanh approximation (keras-hub's `gelu_approximate`)."""
    return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))


class GPTStepper:
    """The keras-hub GPT-2 backbone from `weights.npz`, in numpy float32."""

    def __init__(self, weights: dict[str, np.ndarray], layers: int, heads: int, width: int):
        self.layers, self.heads, self.width = layers, heads, width
        self.head_dim = width // heads
        try:
            self._load(weights)
        except KeyError as exc:
            raise PyccError(f"weights.npz: missing array {exc} for a {layers}-layer GPT-2") from None

    def _load(self, w: dict[str, np.ndarray]) -> None:
        f32, d, h, k = np.float32, self.width, self.heads, self.head_dim

        def get(name, shape):
            array = np.asarray(w[name], dtype=f32)
            if array.shape != shape:
                raise PyccError(f"weights.npz: {name} has shape {array.shape}, expected {shape}")
            return array

        self.vocab_size = np.shape(w["token_embedding/embeddings"])[0]
        self.wte = get("token_embedding/embeddings", (self.vocab_size, d))
        self.wpe = get("position_embedding/embeddings", (np.shape(w["position_embedding/embeddings"])[0], d))
        self.max_positions = self.wpe.shape[0]
        self.blocks = []
        for i in range(self.layers):
            p = f"transformer_layer_{i}/"
            qkv = [get(f"{p}self_attention/{n}/kernel", (d, h, k)).reshape(d, h * k) for n in ("query", "key", "value")]
            qkv_b = [get(f"{p}self_attention/{n}/bias", (h, k)).reshape(h * k) for n in ("query", "key", "value")]
            self.blocks.append(dict(
                ln1_g=get(f"{p}self_attention_layer_norm/gamma", (d,)),
                ln1_b=get(f"{p}self_attention_layer_norm/beta", (d,)),
                # Kernels are stored transposed, (out, in), for `_linear`.
                qkv=_transposed(np.concatenate(qkv, axis=1)),  # (3d, d)
                qkv_b=_frozen(np.concatenate(qkv_b)),
                out=_transposed(get(f"{p}self_attention/attention_output/kernel", (h, k, d)).reshape(h * k, d)),
                out_b=get(f"{p}self_attention/attention_output/bias", (d,)),
                ln2_g=get(f"{p}feedforward_layer_norm/gamma", (d,)),
                ln2_b=get(f"{p}feedforward_layer_norm/beta", (d,)),
                ff1=_transposed(get(f"{p}feedforward_intermediate_dense/kernel", (d, 4 * d))),
                ff1_b=get(f"{p}feedforward_intermediate_dense/bias", (4 * d,)),
                ff2=_transposed(get(f"{p}feedforward_output_dense/kernel", (4 * d, d))),
                ff2_b=get(f"{p}feedforward_output_dense/bias", (d,)),
            ))
        self.lnf_g = get("layer_norm/gamma", (d,))
        self.lnf_b = get("layer_norm/beta", (d,))
        self.weight_bytes = sum(a.nbytes for b in self.blocks for a in b.values()) + self.wte.nbytes

    @classmethod
    def from_artifact(cls, artifact) -> "GPTStepper":
        config = artifact.config
        if config.arch != "gpt2":
            raise PyccError(f"{artifact.path}: arch {config.arch!r} is not a GPT-2 model")
        stepper = cls(artifact.weights(), config.gpt_layers, config.gpt_heads, config.gpt_width)
        if stepper.vocab_size != config.gpt_vocab_size:
            raise PyccError(f"{artifact.path}: weights have {stepper.vocab_size} tokens, the config "
                            f"{config.gpt_vocab_size}")
        return stepper

    # ------------------------------------------------------------------ interface

    def initial_state(self) -> GPTState:
        empty = np.zeros((self.layers, 1, self.heads, 0, self.head_dim), np.float32)
        return GPTState(_frozen(empty), _frozen(empty.copy()), _frozen(empty.copy()), _frozen(empty.copy()))

    def nbytes(self, state: GPTState) -> int:
        return state.prefix_k.nbytes * 2 + state.suffix_k.nbytes * 2

    def select(self, state: GPTState, rows) -> GPTState:
        rows = np.asarray(rows, dtype=np.intp)
        return GPTState(state.prefix_k, state.prefix_v, _frozen(state.suffix_k[:, rows]),
                        _frozen(state.suffix_v[:, rows]))

    def stack(self, states: Sequence[GPTState]) -> GPTState:
        first = states[0]
        if all(s.prefix_k is first.prefix_k and s.suffix_k.shape[3] == first.suffix_k.shape[3] for s in states):
            return GPTState(first.prefix_k, first.prefix_v,
                            _frozen(np.concatenate([s.suffix_k for s in states], axis=1)),
                            _frozen(np.concatenate([s.suffix_v for s in states], axis=1)))
        if len({s.length for s in states}) != 1:
            raise ValueError("stack() needs states of one length")
        flat = [self.merged(s) for s in states]  # different prefixes: everything becomes suffix
        empty = self.initial_state().prefix_k
        return GPTState(empty, empty, _frozen(np.concatenate([s.prefix_k for s in flat], axis=1)),
                        _frozen(np.concatenate([s.prefix_v for s in flat], axis=1)))

    def merged(self, state: GPTState) -> GPTState:
        """A batch-1 state with its whole cache as prefix."""
        if state.batch != 1:
            raise ValueError("merged() takes a batch-1 state")
        if state.suffix_k.shape[3] == 0:
            return state
        empty = np.zeros_like(state.suffix_k[:, :, :, :0])
        return GPTState(_frozen(np.concatenate([state.prefix_k, state.suffix_k], axis=3)),
                        _frozen(np.concatenate([state.prefix_v, state.suffix_v], axis=3)),
                        _frozen(empty), _frozen(empty.copy()))

    def truncate(self, state: GPTState, length: int) -> GPTState:
        """The batch-1 state after its first `length` tokens (a view: free)."""
        state = self.merged(state)
        empty = state.suffix_k
        return GPTState(_frozen(state.prefix_k[:, :, :, :length]), _frozen(state.prefix_v[:, :, :, :length]),
                        empty, state.suffix_v)

    def advance(self, state: GPTState, ids, keep: Sequence[int] = ()):
        """Feed `ids` to a batch-1 state in one causal pass.

        Returns (logits after the last id, new state, {p: (logits, state)} for each
        p in `keep`, counted in ids consumed).
        """
        ids = np.asarray(ids, dtype=np.intp).reshape(-1)
        if state.batch != 1:
            raise ValueError("advance() takes a batch-1 state")
        if len(ids) == 0:
            raise ValueError("advance() needs at least one id")
        state = self.merged(state)
        hidden, new_k, new_v = self._forward(state, ids[None], into_prefix=True)
        keep = sorted({p for p in keep if 1 <= p <= len(ids)})
        positions = [p - 1 for p in keep] + [len(ids) - 1]
        logits = self._logits(hidden[0, positions])
        final = GPTState(_frozen(new_k), _frozen(new_v), state.suffix_k, state.suffix_v)
        base = state.length
        kept = {p: (logits[i], self.truncate(final, base + p)) for i, p in enumerate(keep)}
        return logits[-1], final, kept

    def step(self, state: GPTState, ids) -> tuple[np.ndarray, GPTState]:
        """One id per row -> logits (B, V) and the new state (appended to the suffix)."""
        ids = np.asarray(ids, dtype=np.intp).reshape(-1)
        if state.batch != len(ids):
            raise ValueError(f"state has batch {state.batch}, ids {len(ids)}")
        hidden, new_k, new_v = self._forward(state, ids[:, None], into_prefix=False)
        return self._logits(hidden[:, -1]), GPTState(state.prefix_k, state.prefix_v, _frozen(new_k), _frozen(new_v))

    # ------------------------------------------------------------------ internals

    def _logits(self, hidden: np.ndarray) -> np.ndarray:
        return _linear(hidden, self.wte)

    def _forward(self, state: GPTState, ids: np.ndarray, into_prefix: bool):
        """ids (B, T) after `state` -> final hidden (B, T, d) and the grown cache.

        into_prefix (batch 1): the new keys join the prefix; otherwise the suffix.
        """
        batch, steps = ids.shape
        start = state.length
        if start + steps > self.max_positions:
            raise PyccError(f"GPT context overflow: {start + steps} positions, the model has {self.max_positions}")
        h, k, d = self.heads, self.head_dim, self.width
        x = self.wte[ids] + self.wpe[start:start + steps]  # (B, T, d)
        grown_k, grown_v = [], []
        scale = np.float32(1.0 / math.sqrt(k))
        causal = np.triu(np.full((steps, steps), -np.inf, np.float32), 1)
        for layer, block in enumerate(self.blocks):
            a = _layer_norm(x, block["ln1_g"], block["ln1_b"])
            qkv = _linear(a, block["qkv"], block["qkv_b"])  # (B, T, 3d)
            q, kk, vv = (qkv[..., i * d:(i + 1) * d].reshape(batch, steps, h, k).transpose(0, 2, 1, 3)
                         for i in range(3))  # (B, H, T, k)
            q = q * scale
            pk, pv = state.prefix_k[layer], state.prefix_v[layer]  # (1, H, Tp, k)
            sk, sv = state.suffix_k[layer], state.suffix_v[layer]  # (B', H, Ts, k)
            if into_prefix:
                pk = np.concatenate([pk, kk], axis=2)
                pv = np.concatenate([pv, vv], axis=2)
                grown_k.append(pk)
                grown_v.append(pv)
                scores = q @ pk.transpose(0, 1, 3, 2)  # (1, H, T, Tp+T)
                scores[..., -steps:] += causal
                weights = _softmax(scores)
                out = weights @ pv
            else:
                sk = np.concatenate([sk, kk], axis=2)
                sv = np.concatenate([sv, vv], axis=2)
                grown_k.append(sk)
                grown_v.append(sv)
                sp = q @ pk.transpose(0, 1, 3, 2)  # (B, H, T, Tp): the shared prefix broadcasts
                ss = q @ sk.transpose(0, 1, 3, 2)  # (B, H, T, Ts+T)
                ss[..., -steps:] += causal
                scores = np.concatenate([np.broadcast_to(sp, (batch,) + sp.shape[1:]), ss], axis=-1)
                weights = _softmax(scores)
                tp = pk.shape[2]
                out = weights[..., :tp] @ pv + weights[..., tp:] @ sv
            out = out.transpose(0, 2, 1, 3).reshape(batch, steps, d)
            x = x + _linear(out, block["out"], block["out_b"])
            f = _layer_norm(x, block["ln2_g"], block["ln2_b"])
            x = x + _linear(_gelu(_linear(f, block["ff1"], block["ff1_b"])), block["ff2"], block["ff2_b"])
        x = _layer_norm(x, self.lnf_g, self.lnf_b)
        return x, np.stack(grown_k), np.stack(grown_v)


# Products with m * n * k at most this take OpenBLAS's small-matrix kernel, which skips
# packing the weight matrix: for the few rows of a beam step that is 2-6x faster.
_SMALL_PRODUCT = 1_000_000


def _transposed(kernel: np.ndarray) -> np.ndarray:
    return _frozen(np.ascontiguousarray(np.asarray(kernel, np.float32).T))


def _linear(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x (..., in) @ weight_t.T + bias, for a weight stored transposed as (out, in)."""
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    rows, depth = flat.shape
    out_dim = weight_t.shape[0]
    if rows == 1:
        y = (weight_t @ flat[0])[None]
    elif rows <= 16:
        block = (_SMALL_PRODUCT // (rows * depth)) // 16 * 16
        flat_t = np.ascontiguousarray(flat.T)
        if block < 16 or block >= out_dim:
            y = (weight_t @ flat_t).T
        else:
            y_t = np.empty((out_dim, rows), np.float32)
            for start in range(0, out_dim, block):
                np.matmul(weight_t[start:start + block], flat_t, out=y_t[start:start + block])
            y = y_t.T
    else:
        y = flat @ weight_t.T
    if bias is not None:
        y = y + bias
    return y.reshape(shape[:-1] + (out_dim,))


def _softmax(scores: np.ndarray) -> np.ndarray:
    scores = scores - scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


# ------------------------------------------------------------------ text -----

def _valid_prefix(data: bytes) -> str | None:
    """The text of `data` without an incomplete character at its end; None if invalid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data" and len(data) - exc.start < 4:
            try:
                return data[:exc.start].decode("utf-8")
            except UnicodeDecodeError:
                return None
        return None


@dataclass
class _Beam:
    score: float
    out: bytes  # suggestion bytes so far (may end inside a character)
    text: str  # the complete characters of `out`, none of which ended the suggestion
    pending: bytes  # healed bytes still to re-emit before anything counts
    last: int  # last token id (-1 at the root)
    key: tuple  # the token ids generated so far: the beam's node in the search tree
    marks: tuple  # (text length, score) after each token, for cutting back


@dataclass
class GPTSettings:
    """What the GPT engine reads from `EngineSettings` (same names, token units where noted)."""

    context: str = "document"
    window: int = 100
    beam_width: int = 5
    lookahead: int = 0  # most tokens one completion may explore; 0 = auto from max_chars
    max_chars: int = 40
    cache_documents: int = 256
    cache_bytes: int = 64 * 2**20


class GPTCompletionEngine:
    """The GPT-2 family behind the `CompletionEngine` API: complete, generate, info. Thread-safe."""

    def __init__(self, stepper: GPTStepper, tokenizer: BPETokenizer, *, name: str = "model",
                 settings=None, artifact=None):
        self.stepper, self.tokenizer, self.name, self.artifact = stepper, tokenizer, name, artifact
        if settings is None:
            from pycodecomplete.engine.completion import EngineSettings
            settings = EngineSettings()
        self.settings = settings
        if tokenizer.vocab_size > stepper.vocab_size:
            raise PyccError(f"engine: tokenizer has {tokenizer.vocab_size} tokens, the model {stepper.vocab_size}")
        self.cache = DocumentCache(settings.cache_documents, settings.cache_bytes)
        self.token_bytes = tokenizer.token_bytes() + [b""] * (stepper.vocab_size - tokenizer.vocab_size)
        first = np.array([b[0] if b else 256 for b in self.token_bytes])
        self._first_char = np.array([chr(c) if c < 128 else "" for c in first], dtype=object)
        self._special = np.array([not b for b in self.token_bytes])
        self._max_token_bytes = max(1, max(len(b) for b in self.token_bytes))
        self._heal_masks: dict[bytes, np.ndarray] = {}
        order = sorted((b, i) for i, b in enumerate(self.token_bytes) if b)
        self._sorted_bytes = [b for b, _ in order]
        self._sorted_ids = np.array([i for _, i in order], dtype=np.intp)
        self._id_of_bytes = {b: i for b, i in order}
        self._heal_lock = threading.Lock()
        self._initial = stepper.initial_state()

    @classmethod
    def from_artifact(cls, artifact, settings=None) -> "GPTCompletionEngine":
        from pycodecomplete.engine.completion import EngineSettings

        if not isinstance(settings, EngineSettings):
            settings = EngineSettings.from_mapping(settings)
        engine = cls(GPTStepper.from_artifact(artifact), BPETokenizer.from_artifact(artifact),
                     name=artifact.name, settings=settings, artifact=artifact)
        log.info("loaded GPT-2 model %s from %s (%d tokens, context %d)", engine.name, artifact.path,
                 engine.stepper.vocab_size, engine.stepper.max_positions)
        return engine

    @classmethod
    def from_model_dir(cls, path, settings=None) -> "GPTCompletionEngine":
        from pycodecomplete.artifact import ModelArtifact

        return cls.from_artifact(ModelArtifact.load(path), settings)

    # ------------------------------------------------------------------ public API

    def lookahead_tokens(self, max_chars: int) -> int:
        if self.settings.lookahead:
            return self.settings.lookahead
        return int(min(24, max(4, math.ceil(max_chars / 2))))

    def complete(self, text: str, n: int = 5, max_chars: int | None = None,
                 document: str | None = None) -> list[Suggestion]:
        """Up to `n` ranked suggestions for the cursor at the end of `text`."""
        if n < 1:
            return []
        text = normalize_newlines(text)
        max_chars = max_chars or self.settings.max_chars
        steps = self.lookahead_tokens(max_chars)
        entry = self.cache.entry(document) if document is not None else DocumentEntry(None)
        with entry.lock:
            ids, healed = self._prompt(text, room=steps + 1)
            nodes = self._root(entry, ids)
            suggestions, visited = self._search(nodes, healed, boundary_rule(text), n=n,
                                                width=max(self.settings.beam_width, n), max_chars=max_chars,
                                                steps=steps)
            if document is not None:
                keep = sorted(visited, key=lambda k: (len(k), k))[:getattr(self.settings, "tree_nodes", 64)]
                entry.nodes = {k: visited[k] for k in keep}
                self.cache.resize(entry, self._entry_bytes(entry))
        return suggestions

    def next_token_logprobs(self, text: str, document: str | None = None) -> tuple[np.ndarray, np.ndarray, bytes]:
        """(context ids, log-probs of the token after them, healed bytes) for a cursor after `text`.

        The context is the one `complete` reads (last token taken back); with a
        `document`, through the same per-document cache.
        """
        entry = self.cache.entry(document) if document is not None else DocumentEntry(None)
        with entry.lock:
            ids, healed = self._prompt(normalize_newlines(text), room=1)
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
        ids, healed = self._prompt(normalize_newlines(prompt), room=1)
        logits, state = self._prefill(DocumentEntry(None), ids)
        yield from continue_text(
            self.stepper, state, logits, token_bytes=self.token_bytes, stop_id=SEPARATOR_ID,
            allowed=~self._special, options=options, history=[int(i) for i in ids], pending=healed,
            heal_mask=self._heal_mask, room=self.stepper.max_positions - state.length, slide=self._slide)

    def beam_search_tokens(self, prompt: str, max_length: int | None, beams: int,
                           no_repeat_ngram: int) -> tuple[list[int], list[int], bytes]:
        """(prompt ids, best continuation ids, healed bytes) of a beam-search generation."""
        options = GenerationOptions(max_length=max_length, beams=beams, no_repeat_ngram=no_repeat_ngram)
        ids, healed = self._prompt(normalize_newlines(prompt), room=1)
        logits, state = self._prefill(DocumentEntry(None), ids)
        history = [int(i) for i in ids]
        best = beam_search(self.stepper, state, logits, token_bytes=self.token_bytes, stop_id=SEPARATOR_ID,
                           allowed=~self._special, options=options, history=history, pending=healed,
                           heal_mask=self._heal_mask, room=self.stepper.max_positions - state.length)
        return history, best, healed

    def info(self) -> dict:
        art = self.artifact
        data = {"name": self.name, "family": "gpt2",
                "engine": {**asdict(self.settings), "context_tokens": self.stepper.max_positions}}
        if art is not None:
            data.update({"path": str(art.path), "format_version": art.manifest.get("format_version"),
                         "config": art.config.to_dict(), "vocabulary": art.manifest.get("vocabulary"),
                         "summary": art.summary(), "metrics": art.metrics()})
        return data

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
        # No token holds more than `_max_token_bytes` characters: longer texts cannot fit whole.
        ids = self.tokenizer.encode(text) if len(text) <= budget * self._max_token_bytes else None
        if ids is None or len(ids) + 1 > budget:
            start, head = self._cut(text, budget), []
        ids, offsets = self.tokenizer.encode_with_offsets(text[start:])
        # Token healing: take back the tokens of the last pre-tokenizer chunk (at most 4), which
        # more typing could merge differently ("except Imp" is ` I`+`mp`; ` ImportError` is one).
        word = self.tokenizer.last_word_start(text[start:]) if len(ids) else 0
        keep = len(ids)
        while keep > 0 and len(ids) - keep < MAX_HEALED_TOKENS and (keep == len(ids) or offsets[keep - 1][0] >= word):
            keep -= 1
        healed = b"".join(self.token_bytes[int(i)] for i in ids[keep:])
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

        low = max(1, (len(text) - budget * self._max_token_bytes) // step)
        high = len(text) // step + 1
        while low < high:  # the first k whose line start exists and fits (both monotone in k)
            mid = (low + high) // 2
            cut = point(mid)
            if cut is None or fits(cut):
                high = mid
            else:
                low = mid + 1
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
        common = _common_prefix(old, ids)
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
            if self.token_bytes[tok].endswith(b"\n"):
                keep = keep[i + 1:]
                break
        logits, state, _ = self.stepper.advance(self._initial, np.array(keep))
        return state, logits, self.stepper.max_positions - state.length

    # ------------------------------------------------------------------ search

    def _heal_mask(self, pending: bytes) -> np.ndarray:
        """Tokens that re-emit `pending`: they start with it, or are a non-empty prefix of it."""
        with self._heal_lock:
            mask = self._heal_masks.get(pending)
            if mask is None:
                mask = np.zeros(len(self.token_bytes), dtype=bool)
                mask[self._starting_with(pending)] = True
                # ...and the tokens it starts with are among its prefixes.
                for end in range(1, len(pending)):
                    tok = self._id_of_bytes.get(pending[:end])
                    if tok is not None:
                        mask[tok] = True
                if len(self._heal_masks) > 4096:
                    self._heal_masks.clear()
                self._heal_masks[pending] = mask
            return mask

    def _search(self, nodes: dict, healed: bytes, rule, *, n: int, width: int, max_chars: int,
                steps: int) -> tuple[list[Suggestion], dict]:
        """Ranked suggestions, and the tree of nodes visited (`nodes` plus those computed)."""
        visited = {(): nodes[()]}
        finished: dict[str, float] = {}
        # As the LSTM engine: a suggestion too short to save a keystroke is never offered.
        min_chars = max(1, min(getattr(self.settings, "min_chars", 1), max_chars))

        def finish(text: str, score: float) -> None:
            if len(text) >= min_chars and score > -math.inf:
                finished[text] = float(np.logaddexp(finished.get(text, -math.inf), score))

        def threshold() -> float:
            if len(finished) < n:
                return -math.inf
            return sorted(finished.values(), reverse=True)[n - 1]

        starts_before = np.array([c != "" and c in rule.ends_before for c in self._first_char])
        starts_after = np.array([c != "" and c in rule.ends_after for c in self._first_char])
        live = [_Beam(0.0, b"", "", healed, -1, (), ((0, 0.0),))]
        for depth in range(steps + 1):
            candidates = []
            for beam in live:
                logp = visited[beam.key][0] + beam.score
                if beam.pending:
                    allowed = self._heal_mask(beam.pending)
                else:
                    # Ending here: any token whose text starts with a boundary character.
                    whole = len(beam.out) == len(beam.text.encode("utf-8"))  # no partial character
                    if whole and beam.text:
                        finish(beam.text, _logsumexp(logp[starts_before]))
                    if whole and rule.ends_after and not _escaped(beam.text, rule):
                        for tok in np.flatnonzero(starts_after):
                            finish(beam.text + self._first_char[tok], float(logp[tok]))
                    allowed = ~(self._special | starts_before | starts_after)
                scores = np.where(allowed, logp, -np.inf)
                top = min(len(scores), 2 * width + n)
                best = np.argpartition(-scores, top - 1)[:top]
                candidates.extend((float(scores[t]), beam, int(t)) for t in best if scores[t] > -np.inf)
            if depth == steps:
                break
            candidates.sort(key=lambda c: (-c[0], c[2]))
            next_live = []
            for score, beam, tok in candidates:
                if len(next_live) >= width or score <= threshold():
                    break
                grown = self._extend(beam, tok, score, rule, max_chars, finish)
                if grown is not None:
                    next_live.append(grown)
            if not next_live:
                live = []
                break
            bar = threshold()
            live = [b for b in next_live if b.score > bar]
            if not live:
                break
            for beam in live:
                if beam.key not in visited and beam.key in nodes:
                    visited[beam.key] = nodes[beam.key]
            todo = [b for b in live if b.key not in visited]
            if todo:  # one batched step for the nodes no earlier search computed
                state = self.stepper.stack([visited[b.key[:-1]][1] for b in todo])
                step_logits, state = self.stepper.step(state, np.array([b.last for b in todo]))
                logps = log_softmax(step_logits).astype(np.float32)
                for row, beam in enumerate(todo):
                    visited[beam.key] = (logps[row], self.stepper.select(state, [row]))
        if rule.kind != "word":
            for beam in live:  # still open after the lookahead: cut back to a space or word end
                cut = _cut_back(beam.text)
                if cut:
                    finish(beam.text[:cut], next(s for length, s in beam.marks if length >= cut))
        ranked = sorted(finished.items(), key=lambda item: (-item[1], item[0]))[:n]
        # Scores so far are P(healed bytes + suggestion); the API's score is P(suggestion | text).
        logz = self._healed_logmass(visited, nodes, healed) if healed and ranked else 0.0
        return [Suggestion(text, min(1.0, math.exp(score - logz))) for text, score in ranked], visited

    def _healed_logmass(self, visited: dict, nodes: dict, pending: bytes) -> float:
        """log P(the next bytes are `pending`), summed over every tokenization of them.

        Token by token: the tokens that start with what is left of `pending` end the
        sum; those that are a proper prefix of it continue it, one batched model step
        per level (nodes the search already computed are reused). Paths below
        e^-20 of the total are dropped.
        """
        total = -math.inf
        frontier = [((), pending, 0.0)]
        while frontier:
            todo = [key for key, _, _ in frontier if key not in visited]
            for key in todo:
                if key in nodes:
                    visited[key] = nodes[key]
            todo = [key for key in todo if key not in visited]
            if todo:
                state = self.stepper.stack([visited[key[:-1]][1] for key in todo])
                step_logits, state = self.stepper.step(state, np.array([key[-1] for key in todo]))
                logps = log_softmax(step_logits).astype(np.float32)
                for row, key in enumerate(todo):
                    visited[key] = (logps[row], self.stepper.select(state, [row]))
            grown = []
            for key, rest, acc in frontier:
                logp = visited[key][0]
                total = float(np.logaddexp(total, acc + _logsumexp(logp[self._starting_with(rest)])))
                for end in range(1, len(rest)):
                    tok = self._id_of_bytes.get(rest[:end])
                    if tok is not None:
                        grown.append((key + (tok,), rest[end:], acc + float(logp[tok])))
            frontier = [f for f in grown if f[2] > total - 20.0]
        return total

    def _starting_with(self, prefix: bytes) -> np.ndarray:
        """Ids of the tokens whose bytes start with `prefix` (a run of the byte-sorted vocabulary)."""
        low = bisect.bisect_left(self._sorted_bytes, prefix)
        high = low
        while high < len(self._sorted_bytes) and self._sorted_bytes[high].startswith(prefix):
            high += 1
        return self._sorted_ids[low:high]

    def _extend(self, beam: _Beam, tok: int, score: float, rule, max_chars: int, finish) -> _Beam | None:
        """`beam` + token `tok`: a live beam, or None when it finished (via `finish`) or died."""
        piece, pending = self.token_bytes[tok], beam.pending
        if pending:
            if piece.startswith(pending):
                piece, pending = piece[len(pending):], b""
            else:
                piece, pending = b"", pending[len(piece):]
        out = beam.out + piece
        text = _valid_prefix(out)
        if text is None:
            return None  # not UTF-8: nothing to show
        for i in range(len(beam.text), len(text)):
            c = text[i]
            # Byte-level tokens can spell any character: in a word, a non-ASCII one must be
            # an identifier character (the char-LSTM's ASCII rule covers the rest).
            if c in rule.ends_before or (rule.kind == "word" and c > "\x7f" and not ("a" + c).isidentifier()):
                finish(text[:i], score)
                return None
            if c in NEVER:
                return None
            if c in rule.ends_after and not _escaped(text[:i], rule):
                finish(text[:i + 1], score)
                return None
            if i + 1 >= max_chars:
                finish(text[:i + 1], score)
                return None
        return _Beam(score, out, text, pending, tok, beam.key + (tok,), beam.marks + ((len(text), score),))

    # ------------------------------------------------------------------ generation

# ------------------------------------------------------------------ helpers --

def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


def _logsumexp(values: np.ndarray) -> float:
    if values.size == 0:
        return -math.inf
    top = float(values.max())
    if top == -math.inf:
        return top
    return top + math.log(float(np.exp(values - top).sum()))


def _escaped(text: str, rule) -> bool:
    """Whether the next character is escaped by a backslash (string mode)."""
    count = len(text) - len(text.rstrip("\\"))
    if count == len(text):
        count += rule.backslashes
    return count % 2 == 1


def _cut_back(text: str) -> int:
    """`text` cut back to its last space or word end (0: nowhere); as `engine.beam`."""
    for i in range(len(text) - 1, 0, -1):
        if text[i].isspace() or (text[i - 1] in WORD_CHARS and text[i] not in WORD_CHARS):
            return len(text[:i].rstrip())
    return 0


__all__ = ["GPTCompletionEngine", "GPTState", "GPTStepper", "SPECIAL_TOKENS"]
