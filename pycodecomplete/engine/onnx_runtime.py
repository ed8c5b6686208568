"""ONNX Runtime for the families' steppers: one session per process, built after the fork; int8.

Both families build their step graph in memory from `weights.npz` (so the model
directory format is unchanged) and run it through a `ProcessSession`.

**Fork safety.** Sessions do not survive `fork`: their thread pools stay behind in
the parent, and a child of a process that has run a multi-threaded session hangs
building its own (measured with onnxruntime 1.31). gunicorn loads the app before it
forks its workers, so nothing builds a session until first use in a process
(`warm()` does it in each worker, before its first request). In a process forked
from one that already had a session, `ProcessSession.get()` returns None and the
stepper runs in numpy instead, with a warning: slower, never stuck, exact.

**int8.** `int8=True` quantizes the graph's constant-weight products with ONNX
Runtime's own quantizer (`quantize_int8`: int8 weights in blocks, int8 products).
What it costs in quality and gains in speed is measured per model in
`benchmarks/int8.py` and recorded in `trained-models/README.md`.

**Memory.** Every model call allocates arrays of new shapes (the cache grows a
token at a time, beams come and go), and glibc's malloc raises its mmap threshold
each time a large block is freed, so later large blocks come from the heap and
fragment it: a GPT-2 worker typing 2,000 characters grew from 157 MB to 276 MB.
With the threshold fixed at 128 KiB (`_fix_mmap_threshold`, once per process, where
the C library has `mallopt`) large blocks go back to the system when freed: 193 MB.
"""
from __future__ import annotations

import ctypes
import logging
import os
import threading
from typing import Callable

from pycodecomplete.errors import PyccError

log = logging.getLogger(__name__)

# IR version 9 / opset 17: read by every onnxruntime >= 1.16 (the `onnx` package may
# default to newer IR versions than the installed runtime reads).
IR_VERSION = 9
OPSET = 17
INT8_BLOCK = 32  # weight rows per int8 scale: block 32 kept the shipped GPT-2's KL to float at 3e-4 (128: 7e-4)
FALLBACK_WARNING = ("ONNX Runtime was used before this process forked; its steps run in numpy here "
                    "(build sessions after forking, as pycc serve does in post_worker_init)")

# The process that built a session in this interpreter (inherited by forked children).
_sessions_built_in: int | None = None
_inherited: list = []  # sessions inherited from a parent: freeing them would join threads we do not have
_build_lock = threading.Lock()
_MMAP_THRESHOLD = 128 * 1024
_heap_tuned = False


def require_onnx(int8: bool = False) -> None:
    """Fail at load, with a clear message, rather than on a request."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        if int8:
            import onnx_ir  # noqa: F401  (ONNX Runtime's weight quantizer needs it)
    except ImportError as exc:
        raise PyccError(f"engine: runtime 'onnx' needs the {exc.name} package "
                        "(pip install -r requirements.txt), or use runtime 'numpy'") from None


def make_model(graph, contrib: bool = False):
    """An ONNX model of `graph` at the IR version and opset every supported runtime reads
    (`contrib`: it also uses ONNX Runtime's own fused operators, domain com.microsoft)."""
    from onnx import helper

    opsets = [helper.make_opsetid("", OPSET)] + ([helper.make_opsetid("com.microsoft", 1)] if contrib else [])
    return helper.make_model(graph, opset_imports=opsets, ir_version=IR_VERSION, producer_name="pycodecomplete")


def quantize_int8(model) -> bytes:
    """`model` (an onnx ModelProto) with int8 weights in its constant-weight MatMuls, serialized.

    ONNX Runtime's weight quantizer (`MatMulNBitsQuantizer`, 8 bits): each weight
    column in blocks of `INT8_BLOCK` rows, symmetric, one scale per block; products
    run in int8 (`accuracy_level` 4), each activation row quantized on its own,
    block by block. Rows never share a scale, so a row's numbers do not depend on
    the other rows of its batch: a beam scores the same whichever beams it is
    stepped with, and cached answers stay equal to fresh ones. (Dynamic
    quantization, `quantize_dynamic`, scales a whole batch at once: there a row's
    log-probabilities moved by up to 0.24 with its batch-mates, measured on the
    shipped GPT-2, and it was less exact.)
    """
    quantizer = _quantizer_class()(model, bits=8, block_size=INT8_BLOCK, is_symmetric=True,
                                     accuracy_level=4, op_types_to_quantize=("MatMul",))
    quantizer.process()
    return quantizer.model.model.SerializeToString()


def _fix_mmap_threshold() -> None:
    """Large blocks from mmap, returned to the system when freed (see the module doc)."""
    global _heap_tuned
    if _heap_tuned:
        return
    _heap_tuned = True
    try:
        mallopt = ctypes.CDLL(None).mallopt  # glibc (and musl); absent elsewhere: nothing to do
    except (OSError, AttributeError):
        return
    mallopt(-3, _MMAP_THRESHOLD)  # M_MMAP_THRESHOLD; setting it also stops glibc adjusting it


def _quantizer_class():
    root = logging.getLogger()
    guard = logging.NullHandler()  # its module calls logging.basicConfig(level=INFO) on import: made a no-op
    root.addHandler(guard)
    try:
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    finally:
        root.removeHandler(guard)
    logging.getLogger(MatMulNBitsQuantizer.__module__).setLevel(logging.WARNING)  # a line per product otherwise
    return MatMulNBitsQuantizer


class ProcessSession:
    """One step graph's ONNX Runtime session, built lazily in each process that uses it.

    `build()` returns the graph as an onnx ModelProto; it is called (and its bytes
    kept) only while a session is being built.
    """

    def __init__(self, build: Callable[[], object], *, threads: int = 1, int8: bool = False):
        require_onnx(int8)
        self.build, self.threads, self.int8 = build, max(1, int(threads)), bool(int8)
        self._session, self._pid = None, None
        self._lock = threading.Lock()

    def get(self):
        """This process's session, built on first use; None where one cannot be built safely."""
        global _sessions_built_in
        pid = os.getpid()
        if self._pid != pid:  # first use in this process (a forked worker starts without one)
            with self._lock, _build_lock:
                if self._pid != pid:
                    if self._session is not None:
                        # The parent's session: freeing it here would join threads this process
                        # does not have (and hang), so it is kept, never used.
                        _inherited.append(self._session)
                    if _sessions_built_in not in (None, pid):
                        log.warning(FALLBACK_WARNING)
                        self._session = None
                    else:
                        self._session = self._new_session()
                        _sessions_built_in = pid
                    self._pid = pid
        return self._session

    @property
    def active(self) -> bool:
        """Whether this process runs the graph on ONNX Runtime (False: the numpy fallback)."""
        return self.get() is not None

    def _new_session(self):
        import onnxruntime as ort

        _fix_mmap_threshold()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only: its warnings are about graph rewrites
        # Idle intra-op threads would otherwise spin for a while after each step, taking
        # the CPU from the other workers (and the HTTP thread) between keystrokes.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        model = self.build()
        # The serialized graph (as big as the weights) lives only while the session is built.
        data = quantize_int8(model) if self.int8 else model.SerializeToString()
        del model
        session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        log.info("ONNX Runtime session (%s weights, %d threads) built in process %d",
                 "int8" if self.int8 else "float32", self.threads, os.getpid())
        return session
