"""The char-LSTM's step on ONNX Runtime: the engine's default runtime.

Why not numpy alone: a completion's beam search steps 2 to 10 rows at a time, and
OpenBLAS's sgemm packs (copies) the whole weight matrix on every call with so few
rows, so numpy's batched step costs several single-row steps: 4.9 ms for 5 rows of
the 4x512 model against 0.7 ms for one, on this project's 2-core machines.
ONNX Runtime's MLAS kernels pack constant weights once, when the session is
created: 5 rows take 1.4 ms there, 3.5x faster. `python benchmarks/stepper.py`
measures both runtimes side by side.

The graph is built in memory from the arrays `LSTMStepper` already prepares (gates
in (i, f, o, c) order, fused ``[W; U]`` kernels, layer 0's input as a row lookup
with the bias folded in), so the model directory format is unchanged and every model
ever written is served this way. Only batched `step`s (one id per beam) run here; a
single row, and feeding a long text (`advance`), stay in numpy, where a row is a
matrix-vector product at full memory speed and each layer's input products for a
whole text are one large matrix product.

Sessions are built per process, after the fork, and int8 weights come from ONNX
Runtime's dynamic quantization: both in `engine.onnx_runtime`, shared with GPT-2.
With `int8`, the beams' steps use int8 weights; the typed character and long texts
stay in numpy float32, so the document's state is the float model's.
"""
from __future__ import annotations

import numpy as np

from pycodecomplete.engine.lstm.stepper import LSTMState, LSTMStepper
from pycodecomplete.engine.numeric import frozen
from pycodecomplete.engine.onnx_runtime import ProcessSession, make_model


def build_step_model(stepper: LSTMStepper):
    """The ONNX model (a ModelProto): (ids (B,), h (L,B,U), c (L,B,U)) -> (logits (B,V), h', c')."""
    from onnx import TensorProto, helper, numpy_helper

    u, layers = stepper.units, stepper.layers
    nodes, weights = [], []

    def constant(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    constant("embedding", stepper.embedding)
    constant("gate_split", np.array([u] * 4, np.int64))
    constant("axis0", np.array([0], np.int64))
    pre0 = node("Gather", ["embedding", "ids"], "pre0", axis=0)
    x, new_h, new_c = None, [], []
    for layer in range(layers):
        index = constant(f"layer{layer}", np.array(layer, np.int64))  # a scalar index drops the axis
        h = node("Gather", ["h", index], f"h_in{layer}", axis=0)
        c = node("Gather", ["c", index], f"c_in{layer}", axis=0)
        kernel = constant(f"kernel{layer}", stepper.fused[layer])
        if layer == 0:
            z = node("Add", [node("MatMul", [h, kernel], "r0"), pre0], "z0")
        else:
            xh = node("Concat", [x, h], f"xh{layer}", axis=1)
            product = node("MatMul", [xh, kernel], f"r{layer}")
            z = node("Add", [product, constant(f"bias{layer}", stepper.bias[layer])], f"z{layer}")
        gates = [f"gate_{g}{layer}" for g in "ifoc"]
        nodes.append(helper.make_node("Split", [z, "gate_split"], gates, axis=1))
        i, f, o = (node("Sigmoid", [g], f"sig_{g}") for g in gates[:3])
        cell = node("Tanh", [gates[3]], f"cell{layer}")
        c_new = node("Add", [node("Mul", [f, c], f"fc{layer}"), node("Mul", [i, cell], f"ic{layer}")],
                     f"c_new{layer}")
        x = node("Mul", [o, node("Tanh", [c_new], f"tanh_c{layer}")], f"h_new{layer}")
        new_h.append(node("Unsqueeze", [x, "axis0"], f"h_out{layer}"))
        new_c.append(node("Unsqueeze", [c_new, "axis0"], f"c_out{layer}"))
    node("Concat", new_h, "h_next", axis=0)
    node("Concat", new_c, "c_next", axis=0)
    output_kernel = constant("output_kernel", np.ascontiguousarray(stepper.output_t.T))
    node("Add", [node("MatMul", [x, output_kernel], "output_product"),
                 constant("output_bias", stepper.output_bias)], "logits")

    state = [layers, "batch", u]
    graph = helper.make_graph(
        nodes, "pycc_lstm_step",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, state)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", stepper.vocab_size]),
         helper.make_tensor_value_info("h_next", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c_next", TensorProto.FLOAT, state)],
        weights)
    return make_model(graph)


class OnnxLSTMStepper(LSTMStepper):
    """`LSTMStepper` whose `step` runs on ONNX Runtime (CPU) with `threads` intra-op threads."""

    runtime = "onnx"
    blocked_batches = False  # numpy's blocked weight copies are not needed (the fallback uses plain matmul)

    def __init__(self, weights: dict[str, np.ndarray], layers: int, units: int, threads: int = 1,
                 int8: bool = False):
        super().__init__(weights, layers, units)
        self.session = ProcessSession(lambda: build_step_model(self), threads=threads, int8=int8)
        self.threads, self.int8 = self.session.threads, self.session.int8

    @classmethod
    def from_artifact(cls, artifact, threads: int = 1, int8: bool = False) -> "OnnxLSTMStepper":
        config = artifact.config
        return cls(artifact.weights(), config.lstm_layers, config.lstm_units, threads=threads, int8=int8)

    def warm(self) -> None:
        """Create this process's session now rather than on the first request."""
        if self.session.get() is not None:
            self.onnx_step(self.initial_state(), np.zeros(1, np.int64))

    def step(self, state: LSTMState, ids: np.ndarray) -> tuple[np.ndarray, LSTMState]:
        # One row (the typed character) is a matrix-vector product, which OpenBLAS streams
        # faster than MLAS's packed GEMM (benchmarks/stepper.py, batch 1); beams go to ONNX.
        if state.batch == 1 or self.session.get() is None:
            return super().step(state, ids)
        return self.onnx_step(state, ids)

    def onnx_step(self, state: LSTMState, ids: np.ndarray) -> tuple[np.ndarray, LSTMState]:
        """`step` on ONNX Runtime whatever the batch (for benchmarks and tests)."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if state.batch != ids.shape[0]:
            raise ValueError(f"state has batch {state.batch}, ids {ids.shape[0]}")
        logits, h, c = self._run(state, ids)
        return logits, LSTMState(frozen(h), frozen(c))

    @property
    def active(self) -> bool:
        """Whether steps in this process run on ONNX Runtime (False: the numpy fallback)."""
        return self.session.active

    def _run(self, state: LSTMState, ids: np.ndarray):
        feed = {"ids": ids, "h": np.ascontiguousarray(state.h), "c": np.ascontiguousarray(state.c)}
        return self.session.get().run(None, feed)
