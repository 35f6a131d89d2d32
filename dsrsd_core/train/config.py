"""Every training setting in one dataclass; a config file (TOML or JSON) overrides the defaults."""
from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import DsrsdError

# Settings added after runs were first recorded, with the value that reproduces a run made before
# each existed (the behaviour then). A run's config.json holds every setting of its day, so a field
# absent from it must take this value, not today's default: else `dsrsd rerun` would train something
# else, and an old run's model would be rebuilt in a layout its weights do not fit.
BEFORE_IT_EXISTED = {
    "split": "learner", "alignment": "pairs", "code_dim": 8, "code_floor": "per_dim", "private_floor": "per_dim",
    "fusion": "sum",
    "task_writes_code": True, "independence": "linear", "orthogonality_scope": "own", "variance_floor": 1.0,
    "stream_dropout": 0.0, "min_epochs": 0, "w_backprojection": 0.0, "w_independence": 0.0,
    "w_private_decorrelation": 0.0, "w_reconstruction": 0.0, "w_infonce": 1.0, "lr_decay": 1.0, "kt_window": 10,
    "code_prune_r2": 0.0, "code_prune_epoch": 8, "reconstruction_categories": "onehot",
}


@dataclass
class Config:
    # data and task
    task: str = "final_outcome"
    target: str = "at_risk"
    cutoff_fraction: float = 0.5
    presentations: list = field(default_factory=list)  # e.g. ["AAA 2013J"]; empty = all
    # "learner": random learners per split (stratified, seeded); "temporal": a module's latest
    # presentation tests, earlier ones train (dsrsd_core/data/splits.py: temporal_split)
    split: str = "learner"
    # next_step on knowledge-tracing data: how many of the last responses the history and behaviour
    # modalities see one by one (counts always cover the whole visible history)
    kt_window: int = 10
    # model
    d_model: int = 64
    d_stream: int = 32
    # every neural model (baselines too): 0.1 overfit (DSRSD-Net train AUC 0.96 vs test 0.87 on the synthetic cohort)
    dropout: float = 0.3
    residual: bool = True
    # what "shared" means: "pairs" aligns every pair of modalities (the paper's form); "rest" aligns
    # each modality's low-rank code (code_dim) with its prediction from the other modalities' codes
    alignment: str = "rest"
    code_dim: int = 3  # at most this many shared directions per modality (larger lets private content in)
    # False: the task reads the shared code but its gradient stops there, so only alignment and
    # decorrelation decide what the code holds (rest alignment only). Kept as the definition of
    # "shared"; with the terms below on, 3 seeds showed no measurable difference (docs/benchmarks.md, 7)
    task_writes_code: bool = False
    # after epoch code_prune_epoch, each modality's code keeps only the directions the other modalities
    # predict with validation R^2 >= code_prune_r2 (DSRSDNet.prune_codes; the decomposition's own
    # SHARED_DIRECTION_MIN); 0: every modality keeps code_dim. 3 seeds: the planted widths on both
    # synthetic routings, the split trusted on 3 of 3 (was 2 of 3) at the same AUC (docs/benchmarks.md, 10)
    code_prune_r2: float = 0.3
    code_prune_epoch: int = 8
    code_floor: str = "per_dim"  # variance floor on every code dimension, or on the code's "total" spread
    private_floor: str = "per_dim"  # the same choice for the private decorrelation's floor
    fusion: str = "concat"  # "sum": gated weighted sum of streams; "concat": each stream keeps its slot
    # loss weights: total = task + w_align (w_infonce * InfoNCE + w_regression * regression) + w_decorrelation
    #   + w_orthogonality + w_independence + w_backprojection + w_private_decorrelation + w_reconstruction
    w_align: float = 1.0
    # InfoNCE's uniformity pulls a code's spare dimensions onto the modality's loudest private content
    # (browsing into clickstream.shared at R^2 0.13-0.22 on 2 of 3 seeds at 1.0; <= 0.01 at 0.1: docs/benchmarks.md, 8)
    w_infonce: float = 0.1
    w_regression: float = 5.0  # at 1.0 the clickstream trap was copied into its shared stream (R^2 0.54, 1 of 3 seeds)
    w_decorrelation: float = 1.0
    w_orthogonality: float = 10.0
    w_independence: float = 1.0
    w_backprojection: float = 1.0
    w_private_decorrelation: float = 1.0
    # decode each modality's input summary from [s, p] (model/reconstruction.py), so that label-poor
    # private content is kept (without it the profile's planted background missed R^2 0.5 on 3 of 3 seeds)
    w_reconstruction: float = 2.0
    # how a category column is given back: "softmax" (cross-entropy, one term per column; an ordered
    # one also as its rank) or "onehot" (squared error on its one-hot columns). The planted background in
    # profile.private per seed (0.5 needed): 0.58-0.65 with these defaults, 0.51-0.62 with one-hot at weight 1
    # beside them, 0.44-0.60 with section 11's defaults (docs/benchmarks.md, section 12)
    reconstruction_categories: str = "softmax"
    # "linear": R^2 of the shared code from the private stream; "rbf": kernel CKA, which also sees a shared
    # factor held non-linearly in a private stream (with stream_dropout 0.2: docs/benchmarks.md, section 12)
    independence: str = "rbf"
    orthogonality_scope: str = "all"  # private stream vs its own shared code, or vs "all" shared codes
    temperature: float = 0.1
    # the std every code and private dimension must keep (a hinge): at 1.0 the private dimensions with little
    # to hold were pushed to fill with whatever varies; 0.5 bought +0.006 / +0.010 AUC on the two planted routings
    # (5 seeds) and +0.002 on OULAD, with the factors still where they were planted (docs/benchmarks.md, 11)
    variance_floor: float = 0.5
    # training
    modality_dropout: float = 0.2
    # 0.1 -> 0.2, with the rbf independence: 5 seeds, full routing, shared-stream attribution 0.533 -> 0.545
    # (planted 0.644), the split trusted on every seed of both routings (docs/benchmarks.md, section 12)
    stream_dropout: float = 0.2
    min_epochs: int = 15  # early stopping may not stop before this epoch (auxiliary losses converge first)
    # after the decay the validation AUC still creeps up for 10-20 epochs at the lower rate: patience 5
    # stopped DSRSD-Net there (3 seeds: 0.887 -> 0.890 with these; early fusion 0.899 -> 0.897)
    epochs: int = 60
    patience: int = 10
    batch_size: int = 64  # the auxiliary losses need steps: 256 gave ~100 per run on 1,600 learners
    lr: float = 2e-3
    # the learning rate is lr * lr_decay after min_epochs: the streams are shaped at full rate, then fine-tuned
    # (3 seeds: the same AUC, a third of the spread; docs/benchmarks.md, 8)
    lr_decay: float = 0.1
    weight_decay: float = 1e-4
    seed: int = 0
    val_fraction: float = 0.15
    test_fraction: float = 0.15

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> "Config":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise DsrsdError(f"{source}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
        cfg = cls()
        for k, v in values.items():
            default = getattr(cfg, k)
            if isinstance(default, bool) and not isinstance(v, bool):
                raise DsrsdError(f"{source}: setting '{k}' must be true or false, got {v!r}")
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    raise DsrsdError(f"{source}: setting '{k}' must be a number, got {v!r}")
                v = type(default)(v) if isinstance(default, float) or float(v).is_integer() else v
            setattr(cfg, k, v)
        if not isinstance(cfg.presentations, list) or not all(isinstance(p, str) for p in cfg.presentations):
            raise DsrsdError(f"{source}: 'presentations' must be a list of names like \"AAA 2013J\"")
        cfg.check(source)
        return cfg

    @classmethod
    def from_record(cls, values: dict, source: str = "config") -> "Config":
        """The settings a run recorded (its ``config.json``): a field it lacks takes the value of
        :data:`BEFORE_IT_EXISTED`. For partial files a user writes, use :meth:`from_dict`."""
        return cls.from_dict({**BEFORE_IT_EXISTED, **values}, source)

    @classmethod
    def from_file(cls, path: str | Path) -> "Config":
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as e:
            raise DsrsdError(f"cannot read config file {path}: {e.strerror}") from None
        try:
            values = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as e:
            raise DsrsdError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {e}") from None
        return cls.from_dict(values, str(path))

    def check(self, source: str = "config") -> None:
        for name in ("w_align", "w_infonce", "w_regression", "w_decorrelation", "w_orthogonality", "w_independence",
                     "w_backprojection", "w_private_decorrelation", "w_reconstruction", "modality_dropout",
                     "stream_dropout", "min_epochs"):
            if getattr(self, name) < 0:
                raise DsrsdError(f"{source}: '{name}' must be >= 0")
        if not 0 <= self.code_prune_r2 < 1:
            raise DsrsdError(f"{source}: 'code_prune_r2' must be in [0, 1) (0: no pruning)")
        if not 0 < self.lr_decay <= 1:
            raise DsrsdError(f"{source}: 'lr_decay' must be in (0, 1]")
        for name in ("modality_dropout", "stream_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise DsrsdError(f"{source}: '{name}' must be in [0, 1)")
        for name, allowed in (("split", ("learner", "temporal")), ("alignment", ("pairs", "rest")), ("fusion", ("sum", "concat")),
                              ("orthogonality_scope", ("own", "all")), ("code_floor", ("per_dim", "total")),
                              ("private_floor", ("per_dim", "total")),
                              ("reconstruction_categories", ("onehot", "softmax")),
                              ("independence", ("linear", "rbf"))):
            if getattr(self, name) not in allowed:
                raise DsrsdError(f"{source}: '{name}' must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not 0 < self.cutoff_fraction <= 1:
            raise DsrsdError(f"{source}: 'cutoff_fraction' must be in (0, 1]")
        if self.val_fraction <= 0 or self.test_fraction <= 0 or self.val_fraction + self.test_fraction >= 0.8:
            raise DsrsdError(f"{source}: val_fraction and test_fraction must be positive and leave most data for training")
        for name in ("epochs", "batch_size", "d_model", "d_stream", "code_dim", "kt_window", "code_prune_epoch"):
            if getattr(self, name) < 1:
                raise DsrsdError(f"{source}: '{name}' must be at least 1")
        if self.target not in ("at_risk", "four_class", "three_class"):
            raise DsrsdError(f"{source}: target must be 'at_risk' or 'four_class' (final_outcome), or 'at_risk' or "
                             f"'three_class' (next_step on OULAD), got {self.target!r}")
        if (self.task, self.target) in (("final_outcome", "three_class"), ("next_step", "four_class")):
            raise DsrsdError(f"{source}: target {self.target!r} does not exist for task {self.task!r}")
