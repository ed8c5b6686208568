"""GPT-2's steps on ONNX Runtime: the engine's default runtime for the family.

One graph serves every model call, built in memory from the arrays `GPTStepper`
loads from `weights.npz` (so the model directory format is unchanged):

    ids (B, T), positions (T,), prefix_k/v (L, 1, H, Tp, k), suffix_k/v (L, B, H, Ts, k),
    mask (T, Ts + T), rows (R,)  ->  logits (R, V), local_k/v (L, B, H, Ts + T, k)

The KV cache goes in and out as tensors, in the numpy stepper's layout: a prefix
shared by all rows (the document) and a per-row suffix (the beams), so a batched
beam step never copies the document's keys. Attention scores against the prefix
broadcast over the rows; the new keys join the suffix (`local_k`). `mask` is the
causal mask of the new tokens, `rows` picks the positions whose next-token logits
are wanted (the output projection over the vocabulary is computed for them only).
The feed-forward's GELU and the residual adds with their layer norms use ONNX
Runtime's fused kernels (com.microsoft FastGelu, SkipLayerNormalization): a 5-beam
step is about 160 small operators, and their count costs more than the arithmetic
(the profile is in trained-models/README.md).
`advance` (a text read in one pass) and `step` (one token per beam) both run here,
with the numpy stepper's code as the fallback where no session can be built (a
process forked after using ONNX Runtime: `engine.onnx_runtime`).

With `int8`, the constant-weight products (attention, feed-forward and the output
projection) use int8 weights from ONNX Runtime's dynamic quantization; the
embeddings, layer norms and attention over the cache stay float32.
"""
from __future__ import annotations

import numpy as np

from pycodecomplete.engine.gpt2.stepper import GPTState, GPTStepper
from pycodecomplete.engine.onnx_runtime import ProcessSession, make_model
from pycodecomplete.errors import PyccError

def build_step_model(stepper: GPTStepper):
    """The ONNX model (a ModelProto) of one GPT-2 call with a KV cache (see the module doc)."""
    from onnx import TensorProto, helper, numpy_helper

    d, h, k, layers = stepper.width, stepper.heads, stepper.head_dim, stepper.layers
    nodes, weights = [], []
    count = iter(range(10**9))

    def constant(name: str, value) -> str:
        weights.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(kind: str, *inputs: str, output: str | None = None, **attributes) -> str:
        output = output or f"{kind.lower()}_{next(count)}"
        nodes.append(helper.make_node(kind, list(inputs), [output], name=output, **attributes))  # named for profiles
        return output

    def linear(x: str, weight_t: np.ndarray, bias: np.ndarray | None, name: str) -> str:
        # The numpy stepper keeps kernels transposed, (out, in); MatMul takes (in, out).
        y = op("MatMul", x, constant(f"{name}/kernel", np.ascontiguousarray(weight_t.T)), output=f"{name}/product")
        return y if bias is None else op("Add", y, constant(f"{name}/bias", bias))

    def layer_norm(x: str, gamma: np.ndarray, beta: np.ndarray, name: str) -> str:
        return op("LayerNormalization", x, constant(f"{name}/gamma", gamma), constant(f"{name}/beta", beta),
                  axis=-1, epsilon=1e-5)

    # ONNX Runtime's fused kernels (com.microsoft): a step is ~200 small ops, and their
    # count, more than the arithmetic, is what a beam step costs.
    def gelu(x: str, bias: np.ndarray, name: str) -> str:  # GPT-2's tanh approximation (keras-hub's)
        return op("FastGelu", x, constant(f"{name}/bias", bias), domain="com.microsoft")

    def add_and_norm(x: str, residual: str, bias: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                     name: str) -> tuple[str, str]:
        """(layer norm of x + bias + residual, that sum): one SkipLayerNormalization."""
        normed, total = f"{name}/normed", f"{name}/sum"
        nodes.append(helper.make_node(
            "SkipLayerNormalization", [x, residual, constant(f"{name}/gamma", gamma), constant(f"{name}/beta", beta),
                                       constant(f"{name}/bias", bias)], [normed, "", "", total],
            name=name, domain="com.microsoft", epsilon=1e-5))
        return normed, total
    constant("heads_shape", np.array([0, 0, h, k], np.int64))
    constant("width_shape", np.array([0, 0, d], np.int64))
    constant("flat_shape", np.array([-1, d], np.int64))
    constant("qkv_split", np.array([d, d, d], np.int64))
    constant("axis0", np.array([0], np.int64))
    scale = np.float32(1.0 / np.sqrt(k))

    x = op("Add", op("Gather", constant("wte", stepper.wte), "ids", axis=0),
           op("Gather", constant("wpe", stepper.wpe), "positions", axis=0))  # (B, T, d)
    local_k, local_v = [], []
    ff_out, ff_bias = "", None  # the previous layer's feed-forward product and bias (from layer 1 on)
    for layer, block in enumerate(stepper.blocks):
        index = constant(f"layer{layer}", np.array(layer, np.int64))  # a scalar index drops the axis
        pk, pv = (op("Gather", name, index, axis=0) for name in ("prefix_k", "prefix_v"))  # (1, H, Tp, k)
        sk, sv = (op("Gather", name, index, axis=0) for name in ("suffix_k", "suffix_v"))  # (B, H, Ts, k)
        if layer == 0:
            a = layer_norm(x, block["ln1_g"], block["ln1_b"], f"layer{layer}/ln1")
        else:  # the previous layer's feed-forward output joins the residual here
            a, x = add_and_norm(ff_out, x, ff_bias, block["ln1_g"], block["ln1_b"], f"layer{layer}/ln1")
        qkv_t, qkv_b = block["qkv"].copy(), block["qkv_b"].copy()
        qkv_t[:d] *= scale  # the query's 1/sqrt(k), folded into its kernel and bias
        qkv_b[:d] *= scale
        qkv = linear(a, qkv_t, qkv_b, f"layer{layer}/qkv")
        q, new_k, new_v = (f"layer{layer}/{part}" for part in ("q", "k", "v"))
        nodes.append(helper.make_node("Split", [qkv, "qkv_split"], [q, new_k, new_v], axis=2))
        q, new_k, new_v = (op("Transpose", op("Reshape", t, "heads_shape"), perm=[0, 2, 1, 3])
                           for t in (q, new_k, new_v))  # (B, H, T, k)
        lk = op("Concat", sk, new_k, axis=2)  # (B, H, Ts + T, k)
        lv = op("Concat", sv, new_v, axis=2)
        local_k.append(op("Unsqueeze", lk, "axis0"))
        local_v.append(op("Unsqueeze", lv, "axis0"))
        prefix_scores = op("MatMul", q, op("Transpose", pk, perm=[0, 1, 3, 2]))  # (B, H, T, Tp)
        local_scores = op("Add", op("MatMul", q, op("Transpose", lk, perm=[0, 1, 3, 2])), "mask")
        weights_ = op("Softmax", op("Concat", prefix_scores, local_scores, axis=3), axis=-1)
        sizes = op("Concat", op("Shape", pk, start=2, end=3), op("Shape", lk, start=2, end=3), axis=0)
        wp, wl = f"layer{layer}/weights_prefix", f"layer{layer}/weights_local"
        nodes.append(helper.make_node("Split", [weights_, sizes], [wp, wl], axis=3))
        attended = op("Add", op("MatMul", wp, pv), op("MatMul", wl, lv))  # (B, H, T, k)
        merged = op("Reshape", op("Transpose", attended, perm=[0, 2, 1, 3]), "width_shape")
        f, x = add_and_norm(linear(merged, block["out"], None, f"layer{layer}/out"), x, block["out_b"],
                            block["ln2_g"], block["ln2_b"], f"layer{layer}/ln2")
        hidden = gelu(linear(f, block["ff1"], None, f"layer{layer}/ff1"), block["ff1_b"], f"layer{layer}/ff1")
        ff_out, ff_bias = linear(hidden, block["ff2"], None, f"layer{layer}/ff2"), block["ff2_b"]
    x = op("Add", x, op("Add", ff_out, constant("last/ff2/bias", ff_bias)))
    picked = op("Gather", op("Reshape", x, "flat_shape"), "rows", axis=0)  # (R, d): only the rows asked for
    final = layer_norm(picked, stepper.lnf_g, stepper.lnf_b, "final_ln")
    # The tied output embedding, as its own (d, V) copy: the projection over the vocabulary.
    op("MatMul", final, constant("output/kernel", np.ascontiguousarray(stepper.wte.T)), output="logits")
    nodes.append(helper.make_node("Concat", local_k, ["local_k"], axis=0))
    nodes.append(helper.make_node("Concat", local_v, ["local_v"], axis=0))

    def tensor(name: str, kind, shape):
        return helper.make_tensor_value_info(name, kind, shape)

    cache = lambda batch, time: [layers, batch, h, time, k]  # noqa: E731
    graph = helper.make_graph(
        nodes, "pycc_gpt2_step",
        [tensor("ids", TensorProto.INT64, ["batch", "steps"]), tensor("positions", TensorProto.INT64, ["steps"]),
         tensor("prefix_k", TensorProto.FLOAT, cache(1, "prefix")),
         tensor("prefix_v", TensorProto.FLOAT, cache(1, "prefix")),
         tensor("suffix_k", TensorProto.FLOAT, cache("batch", "suffix")),
         tensor("suffix_v", TensorProto.FLOAT, cache("batch", "suffix")),
         tensor("mask", TensorProto.FLOAT, ["steps", "local"]), tensor("rows", TensorProto.INT64, ["picked"])],
        [tensor("logits", TensorProto.FLOAT, ["picked", stepper.vocab_size]),
         tensor("local_k", TensorProto.FLOAT, cache("batch", "local")),
         tensor("local_v", TensorProto.FLOAT, cache("batch", "local"))],
        weights)
    return make_model(graph, contrib=True)


class OnnxGPTStepper(GPTStepper):
    """`GPTStepper` whose model calls run on ONNX Runtime (CPU), float32 or int8 weights."""

    runtime = "onnx"

    def __init__(self, weights: dict[str, np.ndarray], layers: int, heads: int, width: int, threads: int = 1,
                 int8: bool = False):
        super().__init__(weights, layers, heads, width)
        self.session = ProcessSession(lambda: build_step_model(self), threads=threads, int8=int8)
        self.threads, self.int8 = self.session.threads, self.session.int8

    @classmethod
    def from_artifact(cls, artifact, threads: int = 1, int8: bool = False) -> "OnnxGPTStepper":
        config = artifact.config
        if config.arch != "gpt2":
            raise PyccError(f"{artifact.path}: arch {config.arch!r} is not a GPT-2 model")
        stepper = cls(artifact.weights(), config.gpt_layers, config.gpt_heads, config.gpt_width,
                      threads=threads, int8=int8)
        if stepper.vocab_size != config.gpt_vocab_size:
            raise PyccError(f"{artifact.path}: weights have {stepper.vocab_size} tokens, the config "
                            f"{config.gpt_vocab_size}")
        return stepper

    def warm(self) -> None:
        """Create this process's session now rather than on the first request."""
        if self.session.get() is not None:
            self.step(self.initial_state(), [0])

    @property
    def active(self) -> bool:
        """Whether this process's model calls run on ONNX Runtime (False: the numpy fallback)."""
        return self.session.active

    def _run(self, state: GPTState, ids: np.ndarray, into_prefix: bool, rows):
        session = self.session.get()
        if session is None:
            return super()._run(state, ids, into_prefix, rows)
        batch, steps = ids.shape
        start = state.length
        if start + steps > self.max_positions:
            raise PyccError(f"GPT context overflow: {start + steps} positions, the model has {self.max_positions}")
        suffix = state.suffix_k.shape[3]
        mask = np.zeros((steps, suffix + steps), np.float32)
        if steps > 1:  # the new tokens' causal mask (one token sees everything)
            mask[:, suffix:] = np.triu(np.full((steps, steps), -np.inf, np.float32), 1)
        feed = {"ids": np.asarray(ids, np.int64), "positions": np.arange(start, start + steps, dtype=np.int64),
                "prefix_k": state.prefix_k, "prefix_v": state.prefix_v,
                "suffix_k": state.suffix_k, "suffix_v": state.suffix_v,
                "mask": mask, "rows": np.asarray(rows, np.int64)}
        logits, local_k, local_v = session.run(None, {k: np.ascontiguousarray(v) for k, v in feed.items()})
        if into_prefix:  # a batch-1 text read in one pass: the new keys join the prefix
            return (logits, np.concatenate([state.prefix_k, local_k], axis=3),
                    np.concatenate([state.prefix_v, local_v], axis=3))
        return logits, local_k, local_v
