"""Per-epoch training checkpoints: an interrupted ``dsrsd train`` continues where it stopped.

While ``dsrsd train --out RUN`` trains, ``RUN/`` holds only ``RUN/.training/``:

* ``command.json``: what is being trained (resolved config, data argument, device); ``dsrsd train
  --resume RUN`` and a rerun of the same command read it;
* ``checkpoint.pt``: the state after the last completed epoch, replaced atomically after each one:
  model, optimiser (AdamW; no learning-rate scheduler is used), the torch global RNG (stream and
  feature dropout), the batch/modality-dropout generator, CUDA RNG states when on a GPU,
  early-stopping state (best score, best weights, best epoch, stale epochs), history, epoch times.

It holds tensors, numbers, strings, lists and dicts only, so it loads with ``weights_only=True``.
When the run is complete its directory replaces ``RUN/`` in one rename and ``.training/`` goes.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import DsrsdError
from ..io import atomic_path, write_json

TRAINING_DIR = ".training"
CHECKPOINT = "checkpoint.pt"
COMMAND = "command.json"
CHECKPOINT_VERSION = 1


def training_dir(out: str | Path) -> Path:
    return Path(out) / TRAINING_DIR


def read_command(out: str | Path) -> dict | None:
    """The saved command of an interrupted training at ``out``, or None when there is none."""
    f = training_dir(out) / COMMAND
    if not f.exists():
        return None
    try:
        doc = json.loads(f.read_text())
    except (OSError, ValueError) as e:
        raise DsrsdError(f"{f} is unreadable ({e}); start over with --overwrite") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise DsrsdError(f"{f} is not a dsrsd training command; start over with --overwrite")
    return doc


def write_command(out: str | Path, command: dict) -> None:
    write_json(training_dir(out) / COMMAND, command)


def saved_epoch(out: str | Path) -> int | None:
    """The last completed epoch saved at ``out`` (None without a checkpoint)."""
    state = Checkpointer(training_dir(out)).load()
    return None if state is None else int(state["epoch"])


class Checkpointer:
    """Saves and loads the trainer's state in ``folder``; ``meta`` must match on load (e.g. the
    data fingerprint), so a checkpoint is never continued on other data."""

    def __init__(self, folder: str | Path, meta: dict | None = None):
        self.folder = Path(folder)
        self.meta = meta or {}

    @property
    def path(self) -> Path:
        return self.folder / CHECKPOINT

    def save(self, state: dict) -> None:
        import torch

        with atomic_path(self.path) as tmp:
            torch.save({"version": CHECKPOINT_VERSION, "meta": self.meta, **state}, tmp)

    def load(self) -> dict | None:
        import torch

        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated zip, unpickling refused, ...
            raise DsrsdError(f"{self.path} cannot be loaded ({type(e).__name__}); it is damaged or holds more "
                             f"than tensors; start over with --overwrite") from None
        if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
            raise DsrsdError(f"{self.path} is not a checkpoint this dsrsd can continue; start over with --overwrite")
        for k, v in self.meta.items():
            if state["meta"].get(k) != v:
                raise DsrsdError(f"{self.path} was saved with a different {k.replace('_', ' ')}; the interrupted "
                                 f"run cannot be continued on this input; start over with --overwrite")
        return state
