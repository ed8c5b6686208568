"""Train a model directory: resumable, distributed when several GPUs are visible.

An *epoch* here is `config.steps_per_epoch` optimiser steps, after which the model
is validated, metrics are logged and a checkpoint is written. Budgets
(`max_steps`, `epochs`, `minutes`) are totals for the model directory, so running
the same command again after a kill resumes and stops at the same place, and
running it after completion does nothing.

Checkpoint protocol (every file atomic): `checkpoints/ckpt-STEP.keras` (model and
optimiser state) is written first, then `checkpoints/state.json` is switched to
point at it, then older checkpoints are deleted. A kill at any moment leaves a
state.json that points at a complete checkpoint.
"""
from __future__ import annotations

import logging
import math
import os
import platform
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from pycodecomplete import artifact
from pycodecomplete.artifact import atomic_path, read_json, write_json_atomic, write_npz_atomic
from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError
from pycodecomplete.ml import data
from pycodecomplete.ml.corpus import encode_stream, load_corpus
from pycodecomplete.ml.model import build_lstm, compile_model, export_weights
from pycodecomplete.vocab import CharVocabulary

log = logging.getLogger(__name__)
CHECKPOINTS = "checkpoints"
STATE = "state.json"


def select_strategy(devices: list[str] | None = None) -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU when there are several; plain training otherwise.

    `devices` forces a device list (tests use two logical CPUs to exercise the
    multi-replica path without GPUs).
    """
    if devices:
        return tf.distribute.MirroredStrategy(devices)
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def hardware() -> dict:
    gpus = tf.config.list_physical_devices("GPU")
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "gpus": [g.name for g in gpus],
            "tensorflow": tf.__version__, "keras": keras.__version__}
    for g in gpus:
        try:
            info.setdefault("gpu_names", []).append(tf.config.experimental.get_device_details(g).get("device_name"))
        except Exception:  # details are best-effort and vary by driver
            pass
    return info


class _Budget(keras.callbacks.Callback):
    """Stops at a total step count or a total wall-clock budget, whichever comes first."""

    def __init__(self, max_steps: int | None, seconds: float | None, elapsed_before: float):
        super().__init__()
        self.max_steps, self.seconds = max_steps, seconds
        self.started = time.monotonic() - elapsed_before

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def on_train_batch_end(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if (self.max_steps is not None and step >= self.max_steps) or \
                (self.seconds is not None and self.elapsed() >= self.seconds):
            self.model.stop_training = True


class _Checkpointer(keras.callbacks.Callback):
    """At each epoch end: best weights by val_loss, metrics CSV, checkpoint, state."""

    def __init__(self, out: Path, config: Config, state: dict, budget: _Budget, summary: dict, export):
        super().__init__()
        self.out, self.config, self.state, self.budget, self.summary = out, config, state, budget, summary
        self.export = export  # model -> dict of arrays for weights.npz

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        step = int(self.model.optimizer.iterations.numpy())
        row = {"epoch": epoch + 1, "step": step, "elapsed_s": round(self.budget.elapsed(), 1), **logs}
        self.state["history"].append(row)
        self.state.update(epoch=epoch + 1, step=step, elapsed_s=self.budget.elapsed())
        val_loss = logs.get("val_loss")
        if val_loss is not None and math.isfinite(val_loss) and val_loss < self.state.get("best_val_loss", math.inf):
            self.state["best_val_loss"] = val_loss
            write_npz_atomic(self.out / artifact.WEIGHTS, self.export(self.model))
            metrics = {"source": "training validation", "step": step, "epoch": epoch + 1,
                       "val_loss": val_loss, "val_acc": logs.get("val_acc"), "val_windows": self.config.val_windows}
            if self.config.arch == "lstm":
                metrics["val_bpc"] = val_loss / math.log(2)
            else:  # gpt2: val_loss is per BPE token; bits per character come from `pycc evaluate`
                metrics["val_bits_per_token"] = val_loss / math.log(2)
            write_json_atomic(self.out / artifact.METRICS, metrics)
            log.info("epoch %d step %d: val_loss %.4f is the best so far; weights saved", epoch + 1, step, val_loss)
        _write_csv(self.out / "metrics.csv", self.state["history"])
        ckpt_dir = self.out / CHECKPOINTS
        name = f"ckpt-{step}.keras"
        with atomic_path(ckpt_dir / name) as tmp:
            self.model.save(tmp)
        self.state["checkpoint"] = name
        write_json_atomic(ckpt_dir / STATE, self.state)
        for old in ckpt_dir.glob("ckpt-*.keras"):
            if old.name != name:
                old.unlink(missing_ok=True)
        self.summary.update(steps=step, epochs=epoch + 1, wall_time_s=round(self.budget.elapsed(), 1),
                            best_val_loss=self.state.get("best_val_loss"))
        write_json_atomic(self.out / artifact.SUMMARY, self.summary)


def _write_csv(path: Path, rows: list[dict]) -> None:
    first = ["epoch", "step", "elapsed_s"]
    keys = first + sorted({k for row in rows for k in row} - set(first))
    lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in rows]
    artifact.write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def load_state(out: Path) -> dict | None:
    path = out / CHECKPOINTS / STATE
    return read_json(path) if path.exists() else None


class _StateResets(keras.callbacks.Callback):
    """For truncated BPTT: zero the LSTM state when the tracks wrap around, and score
    validation windows from a zero state without disturbing the training state."""

    def __init__(self, per_track: int):
        super().__init__()
        self.per_track = per_track
        self.saved = None

    def _rnns(self):
        return [layer for layer in self.model.layers if getattr(layer, "stateful", False)]

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.per_track == 0:
            for layer in self._rnns():
                layer.reset_state()

    def on_test_begin(self, logs=None):
        self.saved = [[v.numpy() for v in layer.states] for layer in self._rnns() if layer.states]

    def on_test_batch_begin(self, batch, logs=None):
        for layer in self._rnns():
            layer.reset_state()

    def on_test_end(self, logs=None):
        for layer, values in zip(self._rnns(), self.saved or []):
            for variable, value in zip(layer.states, values):
                variable.assign(value)


def start_or_resume(out_dir, config: Config | None) -> tuple[Path, Config, dict]:
    """The config and training state of `out_dir`: from its checkpoint when resuming."""
    out = Path(out_dir)
    state = load_state(out)
    if state is not None:
        config = artifact.ModelArtifact.load(out).config
        log.info("resuming %s at step %d (architecture from %s)", out, state["step"], artifact.MANIFEST)
        return out, config, state
    if (out / artifact.MANIFEST).exists():
        raise PyccError(f"{out} already holds a model without a training checkpoint; choose a new --out")
    return out, (config or Config()).validate(), {"step": 0, "epoch": 0, "elapsed_s": 0.0, "history": []}


def plan_epochs(state: dict, config: Config, max_steps, epochs, minutes) -> int:
    """The `epochs` argument for fit, or 0 when the budget is already spent."""
    target = epochs if epochs is not None else 10**9
    if max_steps is not None:
        target = min(target, state["epoch"] + math.ceil(max(0, max_steps - state["step"]) / config.steps_per_epoch))
    if (max_steps is not None and state["step"] >= max_steps) or state["epoch"] >= target or \
            (minutes is not None and state["elapsed_s"] >= minutes * 60):
        return 0
    return target


def build_or_load(out: Path, state: dict, config: Config, strategy, build, vocabulary: dict,
                  extra_files: dict[str, bytes] | None = None):
    """Under the strategy's scope: the checkpointed model, or a new compiled one."""
    with strategy.scope():
        if state.get("checkpoint"):
            ckpt = out / CHECKPOINTS / state["checkpoint"]
            try:
                return keras.models.load_model(ckpt)
            except Exception as exc:
                raise PyccError(f"cannot load checkpoint {ckpt}: {exc.__class__.__name__}: {exc}") from None
        model = build()
    out.mkdir(parents=True, exist_ok=True)
    for name, blob in (extra_files or {}).items():
        artifact.write_bytes_atomic(out / name, blob)
    artifact.write_manifest(out, config, vocabulary)
    return model


def fit(out: Path, model, config: Config, state: dict, summary_update: dict, train_ds, val_ds, export, *,
        target_epochs: int, max_steps, minutes, global_batch: int, replicas: int, strategy,
        verbose="auto", extra_callbacks=()) -> dict:
    """The shared training loop: budgets, TensorBoard, checkpoints, best weights, summary."""
    summary = artifact.ModelArtifact.load(out).summary() or {}
    summary.update(summary_update)
    summary.update(global_batch=global_batch, replicas=replicas, strategy=type(strategy).__name__,
                   hardware=hardware(), parameters=int(model.count_params()))
    budget = _Budget(max_steps, minutes * 60 if minutes is not None else None, state["elapsed_s"])
    callbacks = [budget,
                 keras.callbacks.TensorBoard(log_dir=str(out / "logs"), update_freq="epoch"),
                 *extra_callbacks,
                 _Checkpointer(out, config, state, budget, summary, export)]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    log.info("training %s: %s params, global batch %d on %d replica(s), from step %d", config.arch,
             f"{model.count_params():,}", global_batch, replicas, state["step"])
    model.fit(train_ds, steps_per_epoch=config.steps_per_epoch, epochs=target_epochs,
              initial_epoch=state["epoch"], validation_data=val_ds, callbacks=callbacks,
              verbose=verbose, shuffle=False)
    log.info("done: step %d, best val_loss %.4f, model in %s", state["step"],
             state.get("best_val_loss", float("nan")), out)
    return summary


def train(out_dir, corpus_dirs=None, config: Config | None = None, *, max_steps: int | None = None,
          epochs: int | None = None, minutes: float | None = None, devices: list[str] | None = None,
          verbose: int | str = "auto") -> dict:
    """Train (or resume) the model in `out_dir`; returns the training summary."""
    out, config, state = start_or_resume(out_dir, config)
    # Absolute roots, so `pycc evaluate` can rebuild the validation split from anywhere.
    corpus_dirs = [d if str(d) == "stdlib" else Path(d).resolve() for d in corpus_dirs or []]
    if config.arch != "lstm":
        from pycodecomplete.ml import gpt  # the GPT-2 family brings its own data and model
        return gpt.train(out, corpus_dirs, config, state, max_steps=max_steps, epochs=epochs,
                         minutes=minutes, devices=devices, verbose=verbose)

    corpus = load_corpus(corpus_dirs, val_fraction=config.val_fraction,
                         max_file_bytes=config.max_file_bytes, max_line_chars=config.max_line_chars)
    stats = log_corpus(corpus, config)
    train_stream, val_stream = encode_stream(corpus.split("train")), encode_stream(corpus.split("val"))

    strategy = select_strategy(devices)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    if max_steps is None and epochs is None and minutes is None:
        # Default budget: one pass over the training characters.
        max_steps = max(1, len(train_stream) // (global_batch * config.seq_len))
    target_epochs = plan_epochs(state, config, max_steps, epochs, minutes)
    if not target_epochs:
        log.info("%s has already reached its budget (step %d); nothing to do", out, state["step"])
        return artifact.ModelArtifact.load(out).summary()

    model = build_or_load(out, state, config, strategy,
                          lambda: compile_model(build_lstm(config, batch_size=config.batch_size), config),
                          CharVocabulary().to_json())
    extra = []
    if config.stateful:
        train_ds, per_track = data.stateful_train_dataset(train_stream, config, global_batch, state["step"])
        extra.append(_StateResets(per_track))
    else:
        train_ds = data.train_dataset(train_stream, config, global_batch, start_step=state["step"])
    return fit(out, model, config, state, {"corpus": stats, "objective": config.objective,
                                           "stateful": config.stateful},
               train_ds, data.validation_dataset(val_stream, config, global_batch),
               lambda m: export_weights(m, config), target_epochs=target_epochs, max_steps=max_steps,
               minutes=minutes, global_batch=global_batch, replicas=replicas, strategy=strategy,
               verbose=verbose, extra_callbacks=extra)


def log_corpus(corpus, config: Config) -> dict:
    stats = corpus.stats()
    log.info("corpus: %d files, %d characters (train %d / val %d files); skipped %s", stats["files"],
             stats["chars"], stats["train"]["files"], stats["val"]["files"],
             {k: v for k, v in stats["skipped"].items() if v})
    if not corpus.split("val"):
        raise PyccError(f"the validation split is empty ({stats['files']} files at val_fraction="
                        f"{config.val_fraction}); add files or raise val_fraction with --set")
    return stats
