"""The char-LSTM's `Stepper` (`engine.base`): the exported Keras model (see
`pycodecomplete.ml.lstm.model`) in plain numpy. Keras's gate order is (i, f, c, o); at load time the columns are
reordered to (i, f, o, c) so one sigmoid covers three gates and one tanh the cell
input, and each layer's input and recurrent kernels are fused into one matrix
``[W; U]`` so a step is one product ``[x, h] @ [W; U]`` per layer. Layer 0's input
is a one-hot vector, so its input product is a row lookup (bias folded in).

Batches of beams multiply against contiguous column blocks of the fused matrix,
as wide as keeps a 10-row block product under OpenBLAS's small-matrix threshold
(m * n * k <= 1e6): there it does not pack (copy) the weights first. On the 4x512
model that makes a 5-beam step 2x faster than one plain ``matmul`` and little
slower than a single row. A single row uses the whole matrix (a gemv).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pycodecomplete.engine.numeric import SMALL_PRODUCT, frozen
from pycodecomplete.errors import PyccError


@dataclass(frozen=True)
class LSTMState:
    """Hidden and cell states of every layer: arrays of shape (layers, batch, units)."""

    h: np.ndarray
    c: np.ndarray

    @property
    def batch(self) -> int:
        return self.h.shape[1]


def _sigmoid_inplace(x: np.ndarray) -> np.ndarray:
    # sigmoid(x) = 0.5 * (1 + tanh(x / 2)): one transcendental and no overflow warnings.
    np.multiply(x, 0.5, out=x)
    np.tanh(x, out=x)
    np.add(x, 1.0, out=x)
    np.multiply(x, 0.5, out=x)
    return x


# Weight blocks for batched steps are sized so that a product with up to _BLOCKED_BATCH
# rows stays under OpenBLAS's small-matrix threshold (m * n * k <= SMALL_PRODUCT).
_BLOCKED_BATCH = 10
# `advance` reads a text this many ids at a time. Why: its per-step arrays (h and c of
# every layer, the input products) grow with what it reads at once; whole, 20,000
# characters of the 2x256 model took about 170 MB at peak. A chunk of 512 holds about
# 4 MB on that model (12 MB on the 4x512), and costs nothing measurable in speed:
# the input products stay large matrix products, and the recurrence is step by step anyway.
ADVANCE_CHUNK = 512


def _block_columns(depth: int, columns: int) -> int:
    if depth * columns * 4 >= 4 * 2**20:
        return min(64, columns)  # big matrices stream from memory: narrow blocks measured fastest
    width = max(64, SMALL_PRODUCT // (_BLOCKED_BATCH * depth) // 64 * 64)
    return min(width, columns)


def _reorder_gates(array: np.ndarray, units: int) -> np.ndarray:
    """Columns (i, f, c, o) -> (i, f, o, c) along the last axis."""
    i, f, c, o = (array[..., k * units:(k + 1) * units] for k in range(4))
    return np.concatenate([i, f, o, c], axis=-1)


class LSTMStepper:
    """The char-LSTM from `weights.npz`, in numpy float32. Never imports TensorFlow."""

    runtime = "numpy"
    blocked_batches = True  # keep column-blocked copies of big kernels for batched steps

    def __init__(self, weights: dict[str, np.ndarray], layers: int, units: int):
        self.layers, self.units = layers, units
        try:
            self._load(weights)
        except KeyError as exc:
            raise PyccError(f"weights.npz: missing array {exc} for a {layers}x{units} LSTM") from None

    def _load(self, weights: dict[str, np.ndarray]) -> None:
        u, f32 = self.units, np.float32

        def get(name, shape):
            array = np.asarray(weights[name], dtype=f32)
            if array.shape != shape:
                raise PyccError(f"weights.npz: {name} has shape {array.shape}, expected {shape}")
            return array

        vocab = np.shape(weights["output/bias"])[0]
        self.vocab_size = vocab
        kernel0 = get("lstm_0/kernel", (vocab, 4 * u))
        bias0 = get("lstm_0/bias", (4 * u,))
        # Layer 0: one-hot input, so x @ W is row `id` of W; fold the bias into the table.
        self.embedding = frozen(np.ascontiguousarray(_reorder_gates(kernel0 + bias0, u)))
        # Per layer: the fused kernel [W; U] of shape (in + u, 4u), plus bias, and the same
        # matrix cut into contiguous column blocks for batched steps.
        self.fused: list[np.ndarray] = []
        self.fused_blocks: list[list[np.ndarray]] = []
        self.bias: list[np.ndarray] = []
        self.input_dim: list[int] = []
        for layer in range(self.layers):
            recurrent = get(f"lstm_{layer}/recurrent_kernel", (u, 4 * u))
            if layer == 0:
                fused, in_dim = recurrent, 0
                bias = np.zeros(4 * u, f32)
            else:
                kernel = get(f"lstm_{layer}/kernel", (u, 4 * u))
                fused, in_dim = np.concatenate([kernel, recurrent], axis=0), u
                bias = get(f"lstm_{layer}/bias", (4 * u,))
            fused = frozen(np.ascontiguousarray(_reorder_gates(fused, u)))
            self.fused.append(fused)
            width = _block_columns(fused.shape[0], 4 * u)
            self.fused_blocks.append([] if width == 4 * u or not self.blocked_batches else [
                frozen(np.ascontiguousarray(fused[:, start:start + width])) for start in range(0, 4 * u, width)])
            self.bias.append(frozen(_reorder_gates(bias, u).copy()))
            self.input_dim.append(in_dim)
        self.output_t = frozen(np.ascontiguousarray(get("output/kernel", (u, vocab)).T))
        self.output_bias = frozen(get("output/bias", (vocab,)).copy())
        # Bytes of weights one step streams through the CPU (what a step costs on a big model).
        self.weight_bytes = sum(w.nbytes for w in self.fused) + self.output_t.nbytes

    @classmethod
    def from_artifact(cls, artifact) -> "LSTMStepper":
        config = artifact.config
        if config.arch != "lstm":
            raise PyccError(f"{artifact.path}: arch {config.arch!r} is not a char-LSTM")
        return cls(artifact.weights(), config.lstm_layers, config.lstm_units)

    # ------------------------------------------------------------------ interface

    def initial_state(self) -> LSTMState:
        zeros = np.zeros((self.layers, 1, self.units), np.float32)
        return LSTMState(frozen(zeros), frozen(zeros.copy()))

    def nbytes(self, state: LSTMState) -> int:
        return state.h.nbytes + state.c.nbytes

    def select(self, state: LSTMState, rows: np.ndarray) -> LSTMState:
        if len(rows) == 1:  # one row: a read-only view, no copy
            row = int(rows[0])
            return LSTMState(state.h[:, row:row + 1], state.c[:, row:row + 1])
        rows = np.asarray(rows, dtype=np.intp)
        return LSTMState(frozen(state.h[:, rows]), frozen(state.c[:, rows]))

    def stack(self, states: Sequence[LSTMState]) -> LSTMState:
        first = states[0]
        if all(s is first for s in states):
            return self.select(first, np.zeros(len(states), dtype=np.intp))
        return LSTMState(frozen(np.concatenate([s.h for s in states], axis=1)),
                         frozen(np.concatenate([s.c for s in states], axis=1)))

    def logits(self, top_h: np.ndarray) -> np.ndarray:
        """Output layer for hidden states of shape (..., units)."""
        return top_h @ self.output_t.T + self.output_bias

    def step(self, state: LSTMState, ids: np.ndarray) -> tuple[np.ndarray, LSTMState]:
        """One id per batch row -> logits (B, V) and the new state."""
        ids = np.asarray(ids, dtype=np.intp).reshape(-1)
        batch, u = ids.shape[0], self.units
        if state.batch != batch:
            raise ValueError(f"state has batch {state.batch}, ids {batch}")
        new_h = np.empty((self.layers, batch, u), np.float32)
        new_c = np.empty((self.layers, batch, u), np.float32)
        x = None
        for layer in range(self.layers):
            h_prev, c_prev = state.h[layer], state.c[layer]
            if layer == 0:
                inputs = h_prev
                z = self._product(layer, inputs)
                z += self.embedding[ids]
            else:
                inputs = np.concatenate([x, h_prev], axis=1)
                z = self._product(layer, inputs)
                z += self.bias[layer]
            x = self._gates(z, c_prev, new_h[layer], new_c[layer])
        return self.logits(x), LSTMState(frozen(new_h), frozen(new_c))

    def advance(self, state: LSTMState, ids: np.ndarray, keep: Sequence[int] = ()):
        """Feed `ids` (a 1-D sequence) to a batch-1 state, `ADVANCE_CHUNK` ids at a time.

        Returns (logits after the last id, new state, {position: (logits, state)} for
        each position in `keep`, the number of ids consumed when that state holds).
        Memory is bounded by the chunk, whatever the length of `ids`.
        """
        ids = np.asarray(ids, dtype=np.intp).reshape(-1)
        steps = ids.shape[0]
        if state.batch != 1:
            raise ValueError("advance() takes a batch-1 state")
        if steps == 0:
            raise ValueError("advance() needs at least one id")
        keep = sorted({p for p in keep if 1 <= p <= steps})
        kept, logits = {}, None
        for start in range(0, steps, ADVANCE_CHUNK):
            chunk = ids[start:start + ADVANCE_CHUNK]
            chunk_keep = [p - start for p in keep if start < p <= start + len(chunk)]
            logits, state, part = self._advance_chunk(state, chunk, chunk_keep)
            kept.update((start + p, value) for p, value in part.items())
        return logits, state, kept

    def _advance_chunk(self, state: LSTMState, ids: np.ndarray, keep: list[int]):
        """`advance` over one chunk, layer by layer: each layer's input products for the
        chunk are one matrix product; only the recurrent product is sequential."""
        steps, u = ids.shape[0], self.units
        hs = np.empty((self.layers, steps, u), np.float32)
        cs = np.empty((self.layers, steps, u), np.float32)
        below = None
        for layer in range(self.layers):
            fused, in_dim = self.fused[layer], self.input_dim[layer]
            if layer == 0:
                pre = self.embedding[ids]  # (steps, 4u), bias folded in
            else:
                pre = below @ fused[:in_dim]
                pre += self.bias[layer]
            recurrent = fused[in_dim:]
            h, c = state.h[layer, 0], state.c[layer, 0]
            for t in range(steps):
                z = h @ recurrent
                z += pre[t]
                h = self._gates(z[None], c[None], hs[layer, t:t + 1], cs[layer, t:t + 1])[0]
                c = cs[layer, t]
            below = hs[layer]
        positions = [p - 1 for p in keep] + [steps - 1]
        logits = self.logits(hs[-1, positions])
        kept = {
            p: (logits[k], LSTMState(frozen(hs[:, p - 1:p].copy()), frozen(cs[:, p - 1:p].copy())))
            for k, p in enumerate(keep)
        }
        final = LSTMState(frozen(hs[:, steps - 1:steps].copy()), frozen(cs[:, steps - 1:steps].copy()))
        return logits[-1], final, kept

    # ------------------------------------------------------------------ internals

    def _product(self, layer: int, inputs: np.ndarray) -> np.ndarray:
        """inputs (B, in) @ fused (in, 4u) -> (B, 4u), fast for small B on OpenBLAS."""
        blocks = self.fused_blocks[layer]
        if inputs.shape[0] == 1 or not blocks:
            return inputs @ self.fused[layer]
        out = np.empty((inputs.shape[0], 4 * self.units), np.float32)
        start = 0
        for block in blocks:
            np.matmul(inputs, block, out=out[:, start:start + block.shape[1]])
            start += block.shape[1]
        return out

    def _gates(self, z: np.ndarray, c_prev: np.ndarray, h_out: np.ndarray, c_out: np.ndarray) -> np.ndarray:
        """z (B, 4u) in (i, f, o, c) order -> writes h and c, returns h."""
        u = self.units
        sig = _sigmoid_inplace(np.ascontiguousarray(z[:, :3 * u]))
        cell = np.tanh(z[:, 3 * u:])
        np.multiply(sig[:, u:2 * u], c_prev, out=c_out)
        cell *= sig[:, :u]
        c_out += cell
        np.tanh(c_out, out=h_out)
        h_out *= sig[:, 2 * u:]
        return h_out
