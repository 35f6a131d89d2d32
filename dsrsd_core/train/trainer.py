"""Fit a model (DSRSD-Net or a baseline) with early stopping; one code path for CPU, one GPU and torchrun (DDP).

Under ``torchrun`` every rank trains on its share of the training learners, gradients are
averaged by DistributedDataParallel, and every rank evaluates the full validation split, so
early-stopping decisions agree without extra communication. Only rank 0 writes anything.
"""
from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from ..data.dataset import MultimodalData
from ..errors import DsrsdError
from ..model import DSRSDNet
from .batching import batches, select, to_tensors
from .checkpoint import Checkpointer
from .config import Config
from .metrics import classification_metrics
from .objective import loss_terms


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DsrsdError("--device cuda was asked for, but this torch build sees no CUDA GPU; use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise DsrsdError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def to_device(t: torch.Tensor, dev: torch.device) -> torch.Tensor:
    """A small host tensor on ``dev``: through pinned memory and without blocking on a GPU (the copy
    queues behind the running kernels instead of waiting for them); unchanged on the CPU."""
    if dev.type != "cuda":
        return t.to(dev)
    return t.pin_memory().to(dev, non_blocking=True)


def drop_modalities(present: torch.Tensor, p: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hide each present modality with probability ``p``; a sample never loses all of them."""
    if p <= 0:
        return present
    # drawn on the CPU generator (its state is checkpointed, so a resumed run draws the same)
    keep = to_device(torch.rand(present.shape, generator=generator, device="cpu"), present.device) >= p
    dropped = present & keep
    return torch.where(dropped.any(1, keepdim=True), dropped, present)


def make_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """AdamW, fused where this torch supports it for the model's device (CPU from torch 2.4, CUDA):
    one kernel per step for all parameter tensors, about 4x faster than ``foreach`` on CPU with
    DSRSD-Net's 78 small tensors (docs/performance.md); else ``foreach``, the same update."""
    params = list(model.parameters())
    try:
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):  # an older torch, or a device without the fused kernel
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, foreach=True)


@torch.no_grad()
def predict(model: DSRSDNet, tensors: dict, idx=None, batch_size: int = 2048,
            stream_mask: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """Class probabilities and gate weights for rows ``idx`` (all rows by default)."""
    model.eval()
    n = len(tensors["y"])
    idx = torch.arange(n) if idx is None else torch.as_tensor(idx)
    proba, gate = [], []
    for b in batches(idx, batch_size):
        batch = select(tensors, b.to(tensors["y"].device))
        if stream_mask is None:
            out = model(batch)
        else:
            out = model(batch, stream_mask[b].to(tensors["y"].device))
        proba.append(torch.softmax(out["logits"].float(), -1).cpu())
        if "gate" in out:
            gate.append(out["gate"].float().cpu())
    return {"proba": torch.cat(proba).numpy(), "gate": torch.cat(gate).numpy() if gate else None}


@dataclass
class TrainResult:
    model: nn.Module
    history: list[dict]
    metrics: dict
    split: np.ndarray
    proba: np.ndarray
    gate: np.ndarray | None  # gate weight per stream (DSRSD-Net); None for models without a gate
    best_epoch: int
    seconds: dict = field(default_factory=dict)


def _non_finite(terms: dict, epoch: int, checkpoint: Checkpointer | None):
    bad = [k for k, v in terms.items() if k != "total" and not torch.isfinite(v.detach())] or ["total"]
    value = float(terms[bad[0]].detach())
    kept = (f"the last good checkpoint (epoch {epoch - 1}) is kept in {checkpoint.folder}" if checkpoint is not None
            and epoch > 1 and checkpoint.path.exists() else "no earlier epoch was saved")
    raise NonFiniteLoss(f"epoch {epoch}: the loss term '{bad[0]}' became {value} and training stopped; {kept}. "
                        f"Lower the learning rate (lr) or the weight of that term and train again with --overwrite")


def _distributed(dev: torch.device) -> tuple[int, int] | None:
    """(rank, world size) when training under DDP: under torchrun with several processes, or in a
    process group the caller started (one rank included); None for plain single-process training."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"  # --device cpu on a GPU machine: gloo
        torch.distributed.init_process_group(backend)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return None


class NonFiniteLoss(DsrsdError):
    """A loss term became NaN or infinite; the last good checkpoint (if any) is kept."""


def _plain(value):
    """numpy scalars as Python numbers, so the history loads with ``weights_only=True``."""
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _rng_state(gen: torch.Generator, dev: torch.device) -> dict:
    state = {"torch": torch.get_rng_state(), "generator": gen.get_state()}
    if dev.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict, gen: torch.Generator, dev: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    if dev.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state_all(state["cuda"])


def train_model(make_model: Callable[[], nn.Module], data: MultimodalData, split: np.ndarray, cfg: Config,
                device: str = "auto", progress: bool = True, checkpoint: Checkpointer | None = None,
                on_epoch_end: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``make_model()`` on ``split == "train"``, stop early on validation AUC, report metrics per split.

    ``make_model`` is called after seeding with ``cfg.seed``, so a model built inside it
    initialises the same way for the same seed (e.g. ``lambda: build_model(specs, n, cfg)`` from
    :mod:`dsrsd_core.models`). DSRSD-Net or any module taking the same batch dict (modality
    presence in ``batch["present"]``) and returning ``{"logits": ...}`` trains the same way.

    With ``checkpoint`` the full training state is saved after every epoch and, when a checkpoint
    is already there, training continues from it: on CPU the result is bit-identical to an
    uninterrupted run with the same seed (single process only; under torchrun nothing is saved).
    ``on_epoch_end(epoch)`` is called after each epoch's checkpoint (tests interrupt through it).
    A non-finite loss term raises :class:`NonFiniteLoss` naming the epoch and the term.
    """
    dev = resolve_device(device)
    if dev.type == "cuda" and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        # one GPU per process, chosen before NCCL starts (else every rank's communicator opens on GPU 0)
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(dev)
    ddp = _distributed(dev)
    rank, world = ddp or (0, 1)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed + rank)
    t0 = time.perf_counter()
    tensors = to_tensors(data, dev)
    train_idx = np.flatnonzero(split == "train")
    val_idx = np.flatnonzero(split == "val")
    if len(np.unique(data.y[train_idx])) < 2:
        raise DsrsdError("the training split holds only one class; the cohort is too small or too unbalanced to train")
    model = make_model().to(dev)
    if hasattr(model, "fit_normalisation"):
        model.fit_normalisation(select(tensors, torch.as_tensor(train_idx, device=dev)))
    if hasattr(model, "input_summaries"):  # reconstruction targets, fixed from here on: computed once
        for m, summary in model.input_summaries(tensors).items():
            tensors[m] = {**tensors[m], "summary": summary}
    net: nn.Module = model
    if ddp:
        net = nn.parallel.DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                  find_unused_parameters=False)
    opt = make_optimizer(model, cfg)
    display = getattr(model, "display_name", "DSRSD-Net")
    amp = dev.type == "cuda"
    # every rank gets the same number of samples, hence of batches: DDP hangs on a missing all-reduce
    my_train = torch.as_tensor(train_idx[rank::world][:len(train_idx) // world])
    history, best, best_state, best_epoch, stale = [], -np.inf, None, 0, 0
    pruning = cfg.code_prune_r2 > 0 and cfg.alignment == "rest" and hasattr(model, "prune_codes")
    epoch_times, start, finished = [], 1, False
    if ddp:
        checkpoint = None  # each rank holds its own generator state; resuming DDP is not supported
    saved = checkpoint.load() if checkpoint is not None else None
    if saved is not None:
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        _set_rng_state(saved["rng"], gen, dev)
        history, epoch_times = saved["history"], saved["epoch_times"]
        best, best_epoch, stale, finished = saved["best"], saved["best_epoch"], saved["stale"], saved["finished"]
        best_state = saved["best_state"]
        start = saved["epoch"] + 1
    bar = tqdm(range(start, cfg.epochs + 1), desc=f"training {display}", unit="epoch",
               disable=not progress or rank != 0 or finished, initial=start - 1, total=cfg.epochs)
    for epoch in bar:
        if finished:
            break
        te = time.perf_counter()
        for group in opt.param_groups:  # from the epoch alone, so a resumed run gets the same rate
            group["lr"] = cfg.lr * (cfg.lr_decay if epoch > cfg.min_epochs else 1.0)
        net.train()
        sums, names, n_batches = None, None, 0
        for b in batches(my_train, cfg.batch_size, shuffle=True, generator=gen):
            if len(b) < 2:
                continue
            batch = select(tensors, to_device(b, dev))
            true_present = batch["present"]
            batch["present"] = drop_modalities(true_present, cfg.modality_dropout, gen)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                out = net(batch)
                terms = loss_terms(out, batch["y"], true_present, cfg)
            # on a GPU every check waits for the device: check once per epoch there (below), from the sums
            if dev.type != "cuda" and not torch.isfinite(terms["total"].detach()):
                _non_finite(terms, epoch, checkpoint)
            opt.zero_grad(set_to_none=True)
            terms["total"].backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0, foreach=True)
            opt.step()
            # summed on the device, read once per epoch: no synchronisation per batch for logging
            values = torch.stack([v.detach().double() for v in terms.values()])
            sums, names = (values if sums is None else sums + values), list(terms)
            n_batches += 1
        means = {} if sums is None else dict(zip(names, (sums / n_batches).tolist()))
        if dev.type == "cuda" and not np.isfinite(means.get("total", 0.0)):
            _non_finite({k: torch.tensor(v) for k, v in means.items()}, epoch, checkpoint)
        row = {"epoch": epoch, **{f"train_{k}": v for k, v in means.items()}, "lr": opt.param_groups[0]["lr"]}
        if pruning and epoch == cfg.code_prune_epoch:
            spectra, changed = model.prune_codes(select(tensors, torch.as_tensor(val_idx, device=dev)),
                                                 cfg.code_prune_r2)
            for p in changed:
                opt.state.pop(p, None)
            row.update({f"code_r2_{m}_{i + 1}": v for m, r2 in spectra.items() for i, v in enumerate(r2)})
            row.update({f"code_width_{m}": w for m, w in model.shared_widths().items()})
        val = predict(model, tensors, val_idx)
        vm = classification_metrics(data.y[val_idx], val["proba"], data.classes)
        row.update({"val_auc": vm["auc"], "val_macro_f1": vm["macro_f1"], "val_accuracy": vm["accuracy"]})
        row = {k: _plain(v) for k, v in row.items()}
        epoch_times.append(time.perf_counter() - te)
        row["seconds"] = epoch_times[-1]
        history.append(row)
        score = float(vm["auc"] if np.isfinite(vm["auc"]) else vm["macro_f1"])
        # before min_epochs the auxiliary losses are still shaping the streams: keep no checkpoint yet; nor
        # before the codes are pruned (a checkpoint from before holds another layout, and stopping early
        # would skip the pruning)
        warm = epoch >= min(max(cfg.min_epochs, cfg.code_prune_epoch if pruning else 0), cfg.epochs)
        if warm and score > best + 1e-4:
            best, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(model.state_dict())
        elif warm:
            stale += 1
        bar.set_postfix(loss=f"{row['train_total']:.3f}", val_auc=f"{vm['auc']:.3f}")
        finished = stale >= cfg.patience or epoch == cfg.epochs
        if checkpoint is not None:
            checkpoint.save({"epoch": epoch, "finished": finished, "model": model.state_dict(),
                             "optimizer": opt.state_dict(), "rng": _rng_state(gen, dev), "history": history,
                             "epoch_times": epoch_times, "best": best, "best_epoch": best_epoch, "stale": stale,
                             "best_state": best_state})
        if on_epoch_end is not None:
            on_epoch_end(epoch)
        if finished:
            break
    model.load_state_dict(best_state)
    out = predict(model, tensors)
    metrics = {s: classification_metrics(data.y[split == s], out["proba"][split == s], data.classes)
               for s in ("train", "val", "test")}
    seconds = {"total": time.perf_counter() - t0, "per_epoch_mean": float(np.mean(epoch_times)),
               "epochs_run": len(history)}
    return TrainResult(model.cpu(), history, metrics, split, out["proba"], out["gate"], best_epoch, seconds)
