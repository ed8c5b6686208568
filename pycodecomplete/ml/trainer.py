"""The shared trainer: any family's model directory, resumable, mirrored over GPUs.

It knows no family: the family's package (`pycodecomplete.families`) gives it
data pipelines, a compiled model, the export of `weights.npz` and what a
validation loss means (`ml/family.py`). Here: the distribution strategy, budgets,
TensorBoard, checkpoints, resuming, the best weights, metrics and the summary.

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
from pycodecomplete.corpus import INSTALLED, STDLIB, corpus_for
from pycodecomplete.errors import PyccError
from pycodecomplete.families import training_module
from pycodecomplete.ml import warmstart
from pycodecomplete.ml.budget import Budget

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

    def __init__(self, out: Path, config: Config, state: dict, budget: _Budget, summary: dict, family):
        super().__init__()
        self.out, self.config, self.state, self.budget, self.summary = out, config, state, budget, summary
        self.family = family

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        step = int(self.model.optimizer.iterations.numpy())
        row = {"epoch": epoch + 1, "step": step, "elapsed_s": round(self.budget.elapsed(), 1), **logs}
        self.state["history"].append(row)
        self.state.update(epoch=epoch + 1, step=step, elapsed_s=self.budget.elapsed())
        val_loss = logs.get("val_loss")
        if val_loss is not None and math.isfinite(val_loss) and val_loss < self.state.get("best_val_loss", math.inf):
            self.state["best_val_loss"] = val_loss
            write_npz_atomic(self.out / artifact.WEIGHTS, self.family.export_weights(self.model, self.config))
            metrics = {"source": "training validation", "step": step, "epoch": epoch + 1,
                       "val_loss": val_loss, "val_acc": logs.get("val_acc"), "val_windows": self.config.val_windows,
                       **self.family.validation_metrics(val_loss)}
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
        warmstart.update_totals(self.summary, step, self.budget.elapsed())
        write_json_atomic(self.out / artifact.SUMMARY, self.summary)


def _write_csv(path: Path, rows: list[dict]) -> None:
    first = ["epoch", "step", "elapsed_s"]
    keys = first + sorted({k for row in rows for k in row} - set(first))
    lines = [",".join(keys)] + [",".join(str(row.get(k, "")) for k in keys) for row in rows]
    artifact.write_bytes_atomic(path, ("\n".join(lines) + "\n").encode())


def load_state(out: Path) -> dict | None:
    path = out / CHECKPOINTS / STATE
    return read_json(path) if path.exists() else None


def start_or_resume(out_dir, config: Config | None) -> tuple[Path, Config, dict]:
    """The config and training state of `out_dir`: from its checkpoint when resuming."""
    out = Path(out_dir)
    state = load_state(out)
    if state is not None:
        config = artifact.ModelArtifact.load(out).config
        log.info("resuming %s at step %d (architecture from %s)", out, state["step"], artifact.MANIFEST)
        return out, config, state
    if (out / artifact.MANIFEST).exists():
        raise PyccError(f"{out} already holds a model without a training checkpoint; choose a new model directory")
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


def fit(out: Path, model, config: Config, state: dict, summary_update: dict, train_ds, val_ds, family, *,
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
                 _Checkpointer(out, config, state, budget, summary, family)]
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


def train(out_dir, corpus_dirs=None, config: Config | None = None, budget: Budget | None = None, *,
          init_from=None, devices: list[str] | None = None, verbose: int | str = "auto") -> dict:
    """Train (or resume) the model in `out_dir`; returns the training summary.

    `init_from`: a model directory whose weights a *new* directory starts from
    (`ml/warmstart.py`); a resumed directory already has its own.
    """
    budget = (budget or Budget()).validate()
    out, config, state = start_or_resume(out_dir, config)
    resuming = bool(state.get("checkpoint"))
    family = training_module(config.arch)
    parent = None
    if init_from is not None and not resuming:
        parent, config = warmstart.load_parent(init_from, config, family.ARCHITECTURE_FIELDS)
    # Absolute roots, so `pycc evaluate` can rebuild the validation split from anywhere.
    corpus_dirs = [d if str(d) in (STDLIB, INSTALLED) else Path(d).resolve() for d in corpus_dirs or []]
    corpus = corpus_for(config, corpus_dirs, progress=verbose != 0)
    stats = log_corpus(corpus, config)
    prepared = family.prepare(out, config, corpus, resuming=resuming, parent=parent)
    config = prepared.config

    strategy = select_strategy(devices)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    max_steps = budget.max_steps
    if budget.unlimited:
        max_steps = max(1, prepared.pass_steps(global_batch))  # default budget: one pass over the training split
    target_epochs = plan_epochs(state, config, max_steps, budget.epochs, budget.minutes)
    if not target_epochs:
        log.info("%s has already reached its budget (step %d); nothing to do", out, state["step"])
        return artifact.ModelArtifact.load(out).summary()

    def build():
        model = family.build_model(config)
        if parent is not None:
            family.import_weights(model, config, parent.weights())
        return model

    model = build_or_load(out, state, config, strategy, build, prepared.vocabulary, extra_files=prepared.extra_files)
    train_ds, callbacks = prepared.train_dataset(global_batch, state["step"])
    val_ds = prepared.validation_dataset(global_batch)
    update = {"corpus": {**stats, **prepared.summary.pop("corpus", {})}, **prepared.summary}
    if parent is not None:
        # The parent's loss on this run's validation data, before any step: where the line resumes.
        start = model.evaluate(val_ds, verbose=0, return_dict=True, callbacks=callbacks)
        update["lineage"] = {**warmstart.lineage(parent), "initial_val_loss": float(start["loss"])}
        log.info("warm start from %s: validation loss %.4f before the first step", parent.path, start["loss"])
    return fit(out, model, config, state, update,
               train_ds, val_ds, family, target_epochs=target_epochs,
               max_steps=max_steps, minutes=budget.minutes, global_batch=global_batch, replicas=replicas,
               strategy=strategy, verbose=verbose, extra_callbacks=callbacks)


def log_corpus(corpus, config: Config) -> dict:
    stats = corpus.stats()
    log.info("corpus: %d files, %d characters (train %d / val %d files); skipped %s", stats["files"],
             stats["chars"], stats["train"]["files"], stats["val"]["files"],
             {k: v for k, v in stats["skipped"].items() if v})
    if not corpus.split("val"):
        raise PyccError(f"the validation split is empty ({stats['files']} files at val_fraction="
                        f"{config.val_fraction}); add files or raise val_fraction")
    return stats
