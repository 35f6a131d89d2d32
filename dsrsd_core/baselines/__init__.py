"""Baselines and ablations, trained and evaluated by the same code, splits and early stopping as DSRSD-Net.

``MODELS`` maps a model family to its class; :func:`build` makes a model by its *name*:

=============================  ===============================================================
``dsrsd_net``                  DSRSD-Net (``dsrsd_core.model.DSRSDNet``)
``single_<modality>``          one modality alone (:mod:`.single_modality`)
``early_fusion``               concatenated encodings + presence flags (:mod:`.early_fusion`)
``late_fusion``                averaged per-modality class probabilities (:mod:`.late_fusion`)
``co_attention``               within- then cross-modal attention over tokens (:mod:`.co_attention`)
``gbm``                        histogram gradient boosting on flattened features (:mod:`.gbm`; not a torch module)
``dsrsd_no_<part>``            DSRSD-Net ablations: settings from :data:`ABLATIONS`
=============================  ===============================================================

Ablations are DSRSD-Net trained with changed settings; :func:`model_config` applies them, so the
config recorded with a run or benchmark cell says exactly what was trained.
"""
from __future__ import annotations

from dataclasses import replace

from ..errors import DsrsdError
from ..model import DSRSDNet
from .co_attention import CoAttention
from .early_fusion import EarlyFusion
from .gbm import GBMModel
from .late_fusion import LateFusion
from .single_modality import SingleModality

MODELS = {
    "dsrsd_net": DSRSDNet,
    "single_modality": SingleModality,
    "early_fusion": EarlyFusion,
    "late_fusion": LateFusion,
    "co_attention": CoAttention,
    "gbm": GBMModel,
}

ABLATIONS = {
    "dsrsd_no_alignment": {"w_align": 0.0},
    "dsrsd_no_decorrelation": {"w_decorrelation": 0.0},
    "dsrsd_no_orthogonality": {"w_orthogonality": 0.0},
    "dsrsd_no_residual": {"residual": False},
    "dsrsd_no_modality_dropout": {"modality_dropout": 0.0},
}

DISPLAY = {
    "dsrsd_net": "DSRSD-Net",
    "early_fusion": EarlyFusion.display_name,
    "late_fusion": LateFusion.display_name,
    "co_attention": CoAttention.display_name,
    "gbm": GBMModel.display_name,
    "dsrsd_no_alignment": "DSRSD-Net without alignment",
    "dsrsd_no_decorrelation": "DSRSD-Net without decorrelation",
    "dsrsd_no_orthogonality": "DSRSD-Net without orthogonality",
    "dsrsd_no_residual": "DSRSD-Net without the residual",
    "dsrsd_no_modality_dropout": "DSRSD-Net without modality dropout",
}


def model_names(modalities: list[str], ablations: bool = True) -> list[str]:
    """The benchmark grid in order: DSRSD-Net, single modalities, fusion baselines, GBM, ablations."""
    names = ["dsrsd_net", *[f"single_{m}" for m in modalities], "early_fusion", "late_fusion", "co_attention", "gbm"]
    return names + (list(ABLATIONS) if ablations else [])


def display_name(name: str) -> str:
    if name.startswith("single_"):
        return f"{name[len('single_'):]} only"
    return DISPLAY.get(name, name)


def check_name(name: str, modalities: list[str]) -> None:
    known = model_names(modalities)
    if name not in known:
        raise DsrsdError(f"unknown model {name!r}; known: {', '.join(known)}")


def model_config(name: str, cfg):
    """``cfg`` with the ablation's settings applied (unchanged for every other model)."""
    return replace(cfg, **ABLATIONS[name]) if name in ABLATIONS else cfg


def build(name: str, specs: list[dict], n_classes: int, cfg):
    """The (untrained) model called ``name`` for modalities ``specs``, sized by ``cfg``."""
    modalities = [s["name"] for s in specs]
    check_name(name, modalities)
    cfg = model_config(name, cfg)
    if name == "dsrsd_net" or name in ABLATIONS:
        model = DSRSDNet(specs, n_classes, cfg.d_model, cfg.d_stream, cfg.dropout, cfg.residual)
        if name != "dsrsd_net":
            model.name, model.display_name = name, display_name(name)
        return model
    if name.startswith("single_"):
        return SingleModality(specs, n_classes, name[len("single_"):], cfg.d_model, cfg.dropout)
    if name == "gbm":
        return GBMModel(specs, n_classes, cfg)
    return MODELS[name](specs, n_classes, cfg.d_model, cfg.dropout)


__all__ = ["MODELS", "ABLATIONS", "build", "model_config", "model_names", "display_name", "GBMModel"]
