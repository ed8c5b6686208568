"""GPT-2 in numpy: the keras-hub backbone from `weights.npz`, stepped with a KV cache.

Never imports TensorFlow. Reads `weights.npz` (the keras-hub backbone's variables
under their Keras paths, see `pycodecomplete.ml.gpt2.model.export_weights`).

`GPTStepper` implements the engine's `Stepper` interface (`engine.base`) with a KV
cache as the state. A state is a *prefix* cache shared by all rows (batch 1) plus
a per-row *suffix* cache: the beams of a search share the document's keys and
values and only carry their own few tokens, so reordering beams copies a few rows,
never the document. A causal cache truncated to its first n positions is exactly
the state after n tokens, which makes checkpoints free.

Kernels are stored transposed, (out, in): a beam step's few rows then multiply in
column blocks small enough for OpenBLAS's small-matrix kernel, which does not
pack the weights first (2-3x faster per step than one plain product).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pycodecomplete.engine.numeric import SMALL_PRODUCT, frozen
from pycodecomplete.errors import PyccError

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

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

    runtime = "numpy"

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
                qkv_b=frozen(np.concatenate(qkv_b)),
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
        return GPTState(frozen(empty), frozen(empty.copy()), frozen(empty.copy()), frozen(empty.copy()))

    def nbytes(self, state: GPTState) -> int:
        return state.prefix_k.nbytes * 2 + state.suffix_k.nbytes * 2

    def select(self, state: GPTState, rows) -> GPTState:
        if len(rows) == 1:  # one beam (after every search step): a read-only view, no copy
            row = int(rows[0])
            return GPTState(state.prefix_k, state.prefix_v, state.suffix_k[:, row:row + 1],
                            state.suffix_v[:, row:row + 1])
        rows = np.asarray(rows, dtype=np.intp)
        return GPTState(state.prefix_k, state.prefix_v, frozen(state.suffix_k[:, rows]),
                        frozen(state.suffix_v[:, rows]))

    def stack(self, states: Sequence[GPTState]) -> GPTState:
        first = states[0]
        if all(s.prefix_k is first.prefix_k and s.suffix_k.shape[3] == first.suffix_k.shape[3] for s in states):
            return GPTState(first.prefix_k, first.prefix_v,
                            frozen(np.concatenate([s.suffix_k for s in states], axis=1)),
                            frozen(np.concatenate([s.suffix_v for s in states], axis=1)))
        if len({s.length for s in states}) != 1:
            raise ValueError("stack() needs states of one length")
        flat = [self.merged(s) for s in states]  # different prefixes: everything becomes suffix
        empty = self.initial_state().prefix_k
        return GPTState(empty, empty, frozen(np.concatenate([s.prefix_k for s in flat], axis=1)),
                        frozen(np.concatenate([s.prefix_v for s in flat], axis=1)))

    def merged(self, state: GPTState) -> GPTState:
        """A batch-1 state with its whole cache as prefix."""
        if state.batch != 1:
            raise ValueError("merged() takes a batch-1 state")
        if state.suffix_k.shape[3] == 0:
            return state
        empty = np.zeros_like(state.suffix_k[:, :, :, :0])
        return GPTState(frozen(np.concatenate([state.prefix_k, state.suffix_k], axis=3)),
                        frozen(np.concatenate([state.prefix_v, state.suffix_v], axis=3)),
                        frozen(empty), frozen(empty.copy()))

    def truncate(self, state: GPTState, length: int) -> GPTState:
        """The batch-1 state after its first `length` tokens (a view: free)."""
        state = self.merged(state)
        empty = state.suffix_k
        return GPTState(frozen(state.prefix_k[:, :, :, :length]), frozen(state.prefix_v[:, :, :, :length]),
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
        keep = sorted({p for p in keep if 1 <= p <= len(ids)})
        positions = [p - 1 for p in keep] + [len(ids) - 1]
        logits, new_k, new_v = self._run(state, ids[None], True, positions)
        final = GPTState(frozen(new_k), frozen(new_v), state.suffix_k, state.suffix_v)
        base = state.length
        kept = {p: (logits[i], self.truncate(final, base + p)) for i, p in enumerate(keep)}
        return logits[-1], final, kept

    def step(self, state: GPTState, ids) -> tuple[np.ndarray, GPTState]:
        """One id per row -> logits (B, V) and the new state (appended to the suffix)."""
        ids = np.asarray(ids, dtype=np.intp).reshape(-1)
        if state.batch != len(ids):
            raise ValueError(f"state has batch {state.batch}, ids {len(ids)}")
        logits, new_k, new_v = self._run(state, ids[:, None], False, np.arange(len(ids)))
        return logits, GPTState(state.prefix_k, state.prefix_v, frozen(new_k), frozen(new_v))

    # ------------------------------------------------------------------ internals

    def _run(self, state: GPTState, ids: np.ndarray, into_prefix: bool, rows):
        """ids (B, T) after `state` -> (logits at `rows` of the flattened (B*T) positions, grown cache).

        The one place a runtime computes: `engine.gpt2.onnx` overrides it."""
        hidden, new_k, new_v = self._forward(state, ids, into_prefix)
        return self._logits(hidden.reshape(-1, self.width)[rows]), new_k, new_v

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


def _transposed(kernel: np.ndarray) -> np.ndarray:
    return frozen(np.ascontiguousarray(np.asarray(kernel, np.float32).T))


def _linear(x: np.ndarray, weight_t: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """x (..., in) @ weight_t.T + bias, for a weight stored transposed as (out, in)."""
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    rows, depth = flat.shape
    out_dim = weight_t.shape[0]
    if rows == 1:
        y = (weight_t @ flat[0])[None]
    elif rows <= 16:
        block = (SMALL_PRODUCT // (rows * depth)) // 16 * 16
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
