"""The model registry: DSRSD-Net, its baselines and its ablations, built by *name*.

=============================  ===============================================================
``dsrsd_net``                  DSRSD-Net (``dsrsd_core.model.DSRSDNet``, sized by :func:`dsrsd_from_config`)
``single_<modality>``          one modality alone (:mod:`.baselines.single_modality`)
``early_fusion``               concatenated encodings + presence flags (:mod:`.baselines.early_fusion`)
``late_fusion``                averaged per-modality class probabilities (:mod:`.baselines.late_fusion`)
``co_attention``               within- then cross-modal attention over tokens (:mod:`.baselines.co_attention`)
``gbm``                        histogram gradient boosting on flattened features (:mod:`.baselines.gbm`; not a torch module)
``kt_logreg``, ``dkt``,        knowledge-tracing baselines, only for the content/behaviour/history modalities of
``sakt``                       ``--task next_step`` (:mod:`.baselines.kt_logreg`, :mod:`.baselines.dkt`,
                               :mod:`.baselines.sakt`)
``dsrsd_no_<part>``            DSRSD-Net ablations: settings from :data:`ABLATIONS`
=============================  ===============================================================

Ablations are DSRSD-Net trained with changed settings; :func:`model_config` applies them, so the
config recorded with a run or benchmark cell says exactly what was trained. ``run.model()`` and
``dsrsd benchmark`` both build through :func:`build_model`.
"""
from __future__ import annotations

from dataclasses import replace

from .baselines.co_attention import CoAttention
from .baselines.early_fusion import EarlyFusion
from .baselines.gbm import GBMModel
from .baselines.dkt import DKT
from .baselines.kt_logreg import KTLogReg
from .baselines.late_fusion import LateFusion
from .baselines.sakt import SAKT
from .baselines.single_modality import SingleModality
from .errors import DsrsdError
from .model import DSRSDNet
from .train.config import Config

FUSION_BASELINES = {
    "early_fusion": EarlyFusion,
    "late_fusion": LateFusion,
    "co_attention": CoAttention,
}

ABLATIONS = {
    "dsrsd_no_alignment": {"w_align": 0.0},
    "dsrsd_no_decorrelation": {"w_decorrelation": 0.0},
    "dsrsd_no_orthogonality": {"w_orthogonality": 0.0},
    "dsrsd_no_residual": {"residual": False},
    "dsrsd_no_modality_dropout": {"modality_dropout": 0.0},
    "dsrsd_no_backprojection": {"w_backprojection": 0.0},
    "dsrsd_pairs_alignment": {"alignment": "pairs", "code_floor": "per_dim"},
    "dsrsd_sum_fusion": {"fusion": "sum"},
    "dsrsd_no_stream_dropout": {"stream_dropout": 0.0},
    "dsrsd_no_private_decorrelation": {"w_private_decorrelation": 0.0},
    "dsrsd_task_writes_code": {"task_writes_code": True},
    "dsrsd_weak_regression": {"w_regression": 1.0},
    "dsrsd_no_independence": {"w_independence": 0.0},
    "dsrsd_no_reconstruction": {"w_reconstruction": 0.0},
    "dsrsd_full_infonce": {"w_infonce": 1.0},
    "dsrsd_no_lr_decay": {"lr_decay": 1.0},
    "dsrsd_low_dropout": {"dropout": 0.1},
    "dsrsd_no_code_prune": {"code_prune_r2": 0.0},
    "dsrsd_full_floor": {"variance_floor": 1.0},
    "dsrsd_onehot_reconstruction": {"reconstruction_categories": "onehot", "w_reconstruction": 1.0},
    "dsrsd_linear_independence": {"independence": "linear"},
    "dsrsd_low_stream_dropout": {"stream_dropout": 0.1},
    # the paper's form as first built (before the probes): every setting back to its old default
    "dsrsd_paper_form": {"alignment": "pairs", "fusion": "sum", "w_regression": 0.1, "w_decorrelation": 0.05,
                         "w_orthogonality": 0.1, "orthogonality_scope": "own", "w_backprojection": 0.0,
                         "w_private_decorrelation": 0.0, "stream_dropout": 0.0, "min_epochs": 0, "batch_size": 256, "epochs": 30,
                         "w_independence": 0.0, "task_writes_code": True, "w_reconstruction": 0.0, "w_infonce": 1.0,
                         "dropout": 0.1, "lr_decay": 1.0, "code_prune_r2": 0.0, "variance_floor": 1.0,
                         "reconstruction_categories": "onehot"},
}

KT_BASELINES = {"kt_logreg": KTLogReg, "dkt": DKT, "sakt": SAKT}

DISPLAY = {
    "dsrsd_net": "DSRSD-Net",
    **{name: cls.display_name for name, cls in FUSION_BASELINES.items()},
    "gbm": GBMModel.display_name,
    "kt_logreg": KTLogReg.display_name,
    "dkt": DKT.display_name,
    "sakt": SAKT.display_name,
    "dsrsd_no_alignment": "DSRSD-Net without alignment",
    "dsrsd_no_decorrelation": "DSRSD-Net without decorrelation",
    "dsrsd_no_orthogonality": "DSRSD-Net without orthogonality",
    "dsrsd_no_residual": "DSRSD-Net without the residual",
    "dsrsd_no_modality_dropout": "DSRSD-Net without modality dropout",
    "dsrsd_no_backprojection": "DSRSD-Net without the least-squares back-projection",
    "dsrsd_pairs_alignment": "DSRSD-Net aligning modality pairs",
    "dsrsd_sum_fusion": "DSRSD-Net with a gated sum",
    "dsrsd_no_stream_dropout": "DSRSD-Net without stream dropout",
    "dsrsd_no_private_decorrelation": "DSRSD-Net without private-stream decorrelation",
    "dsrsd_task_writes_code": "DSRSD-Net with the task writing into the shared code",
    "dsrsd_weak_regression": "DSRSD-Net with the alignment regression at weight 1",
    "dsrsd_no_independence": "DSRSD-Net without the shared/private independence term",
    "dsrsd_no_reconstruction": "DSRSD-Net without input reconstruction from the streams",
    "dsrsd_full_infonce": "DSRSD-Net with InfoNCE at full weight",
    "dsrsd_no_lr_decay": "DSRSD-Net without the learning-rate decay after min_epochs",
    "dsrsd_low_dropout": "DSRSD-Net with dropout 0.1",
    "dsrsd_no_code_prune": "DSRSD-Net keeping every modality's code at code_dim (no pruning)",
    "dsrsd_full_floor": "DSRSD-Net with the variance floor at 1.0 (the default before section 11)",
    "dsrsd_onehot_reconstruction": "DSRSD-Net giving categories back as one-hot columns, weight 1 (before section 12)",
    "dsrsd_linear_independence": "DSRSD-Net with the linear independence term (before section 12)",
    "dsrsd_low_stream_dropout": "DSRSD-Net with stream dropout 0.1 (before section 12)",
    "dsrsd_paper_form": "DSRSD-Net, the paper's form (pre-probe defaults)",
}


def model_names(modalities: list[str], ablations: bool = True) -> list[str]:
    """The benchmark grid in order: DSRSD-Net, single modalities, fusion baselines, GBM, ablations."""
    names = ["dsrsd_net", *[f"single_{m}" for m in modalities], *FUSION_BASELINES, "gbm"]
    if {"content", "history"} <= set(modalities):
        names += list(KT_BASELINES)
    return names + (list(ABLATIONS) if ablations else [])


def display_name(name: str) -> str:
    if name.startswith("single_"):
        return f"{name[len('single_'):]} only"
    return DISPLAY.get(name, name)


def check_name(name: str, modalities: list[str]) -> None:
    known = model_names(modalities)
    if name not in known:
        raise DsrsdError(f"unknown model {name!r}; known: {', '.join(known)}")


def model_config(name: str, cfg: Config) -> Config:
    """``cfg`` with the ablation's settings applied (unchanged for every other model)."""
    return replace(cfg, **ABLATIONS[name]) if name in ABLATIONS else cfg


def dsrsd_from_config(specs: list[dict], n_classes: int, cfg: Config) -> DSRSDNet:
    """DSRSD-Net for modalities ``specs``, sized by ``cfg``: the one place its settings reach the model."""
    return DSRSDNet(specs, n_classes, cfg.d_model, cfg.d_stream, cfg.dropout, cfg.residual, cfg.alignment,
                    cfg.code_dim, cfg.fusion, cfg.stream_dropout, cfg.task_writes_code,
                    cfg.w_reconstruction > 0, cfg.reconstruction_categories)


def build_model(specs: list[dict], n_classes: int, cfg: Config, name: str = "dsrsd_net"):
    """The (untrained) model called ``name`` for modalities ``specs``, sized by ``cfg``."""
    check_name(name, [s["name"] for s in specs])
    cfg = model_config(name, cfg)
    if name == "dsrsd_net" or name in ABLATIONS:
        model = dsrsd_from_config(specs, n_classes, cfg)
        if name != "dsrsd_net":
            model.name, model.display_name = name, display_name(name)
        return model
    if name.startswith("single_"):
        return SingleModality(specs, n_classes, name[len("single_"):], cfg.d_model, cfg.dropout)
    if name == "gbm":
        return GBMModel(specs, n_classes, cfg)
    if name in KT_BASELINES:
        return KT_BASELINES[name](specs, n_classes, cfg)
    return FUSION_BASELINES[name](specs, n_classes, cfg.d_model, cfg.dropout)
