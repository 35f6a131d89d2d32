"""The ``dsrsd`` command line. Every user-fixable problem ends in one message and exit code 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .data.cache import SYNTHETIC_DEFAULT
from .errors import DsrsdError


def check_writable(out: Path) -> None:
    """Fail before hours of training, not after, when the run cannot be saved."""
    parent = out.resolve().parent
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise DsrsdError(f"cannot write the output directory {out}: {probe} is a file, not a directory")
    if not os.access(probe, os.W_OK):
        raise DsrsdError(f"cannot write the output directory {out}: {probe} is not writable")
    if out.exists() and not out.is_dir():
        raise DsrsdError(f"--out {out} exists and is a file, not a directory")


def torch_distributed_initialised() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


# ---- commands ---------------------------------------------------------------------------
def cmd_synth(args) -> int:
    from .data.synth import write_cohort

    summary = write_cohort(args.out, enrolments=args.enrolments, seed=args.seed, progress=not args.quiet,
                           routing=args.routing)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_validate(args) -> int:
    from .data.validate import validate_data
    from .train.pipeline import resolve_data

    text, ok = validate_data(resolve_data(args.data))
    print(text)
    return 0 if ok else 2


def cmd_train(args) -> int:
    from .models import build_model
    from .run_dir import write_training_run
    from .train.config import Config
    from .train.pipeline import prepare
    from .train.trainer import resolve_device, train_model

    cfg = Config.from_file(args.config) if args.config else Config()
    overrides = {k: getattr(args, k) for k in ("target", "epochs", "seed", "cutoff_fraction", "task")
                 if getattr(args, k) is not None}
    if args.presentations:
        overrides["presentations"] = [p.strip() for p in args.presentations.split(",") if p.strip()]
    cfg = Config.from_dict({**cfg.to_dict(), **overrides}, "command line")
    out = Path(args.out)
    check_writable(out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise DsrsdError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
    device = resolve_device(args.device)
    progress = not args.quiet
    t0 = time.perf_counter()
    data, split, data_dir = prepare(args.data, cfg, progress)
    t_data = time.perf_counter() - t0
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, str(device),
                         progress)
    result.seconds["prepare_data"] = t_data
    if torch_distributed_initialised():
        import torch.distributed as dist

        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    write_training_run(out, data, result, cfg, str(device), "synthetic" if args.data == "synthetic" else str(data_dir),
                       overwrite=args.overwrite)
    test = result.metrics["test"]
    print(f"wrote {out}: test AUC {test['auc']:.3f}, macro-F1 {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f} "
          f"(best epoch {result.best_epoch}, {result.seconds['per_epoch_mean']:.1f} s/epoch on {device})")
    if cfg.task == "next_step":
        print("not explained: attributions, embeddings and the dashboard views for next-step runs are not "
              "built yet (docs/next_step.md); the run's metrics and predictions are in the folder")
    elif not args.no_explain:
        from .explain.recorder import explain

        print(explain_line(out, explain(out, data=data, progress=progress)))
    return 0


def cmd_explain(args) -> int:
    from .explain.recorder import explain

    summary = explain(args.run_dir, progress=not args.quiet, umap_max_samples=args.umap_max_samples)
    print(explain_line(args.run_dir, summary))
    return 0


def cmd_report(args) -> int:
    from .report import write_report

    out = write_report(args.run_dir, args.out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; opens offline in any browser)")
    return 0


def cmd_benchmark(args) -> int:
    import shlex

    from .benchmark import run_benchmark
    from .train.config import Config

    cfg = Config.from_file(args.config) if args.config else Config()
    overrides = {k: getattr(args, k) for k in ("epochs", "patience", "cutoff_fraction") if getattr(args, k) is not None}
    cfg = Config.from_dict({**cfg.to_dict(), **overrides}, "command line")
    presentations = [p.strip() for p in (args.presentations or "").split(",") if p.strip()]
    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] or None
    if args.seeds < 1:
        raise DsrsdError("--seeds must be at least 1")
    out = Path(args.out)
    check_writable(out)
    command = ["dsrsd", "benchmark", "--data", args.data, "--task", args.task, "--target", args.target,
               "--seeds", str(args.seeds), "--out", args.out]
    for flag, value in (("--models", args.models), ("--presentations", args.presentations),
                        ("--epochs", args.epochs), ("--patience", args.patience),
                        ("--cutoff-fraction", args.cutoff_fraction), ("--config", args.config)):
        if value is not None:
            command += [flag, str(value)]
    info = run_benchmark(args.data, out, args.seeds, models=models, target=args.target, task=args.task,
                         presentations=presentations, config=cfg, device=args.device, progress=not args.quiet,
                         command=shlex.join(command))
    last = info["invocations"][-1]
    print(f"wrote {out / 'results.md'} and results.csv: {info['cells']} cells ({last['cells_run']} run now, "
          f"{last['cells_skipped']} reused) in {last['wall_seconds'] / 60:.1f} min")
    return 0


def explain_line(run_dir, summary: dict) -> str:
    shares = summary["attribution"]["test"]["modality_share"]
    top = max(shares, key=shares.get)
    text = (f"explained {run_dir} in {summary['seconds']['total']:.0f} s: {top} drives the predictions "
            f"({shares[top]:.0%} of stream attribution on the test split)")
    if "planted_truth" in summary:
        pt = summary["planted_truth"]
        text += (f"; planted-truth rank correlation {pt['rank_correlation']:.2f}, "
                 f"shared-stream fraction {pt['shared_attribution_fraction']:.2f} "
                 f"(planted {pt['planted_shared_signal_fraction']:.2f})")
    return text


# ---- parser -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dsrsd", description="DSRSD-Net for learner data: train, explain, inspect.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="write a synthetic cohort in the OULAD schema with a planted ground truth")
    s.add_argument("--out", required=True)
    s.add_argument("--enrolments", type=int, default=SYNTHETIC_DEFAULT["enrolments"])
    s.add_argument("--seed", type=int, default=SYNTHETIC_DEFAULT["seed"])
    s.add_argument("--routing", choices=["full", "sparse"], default="full",
                   help="full: every pair of modalities shares a planted factor; sparse: profile and clickstream share none")
    s.add_argument("--quiet", action="store_true")
    s.set_defaults(func=cmd_synth)

    v = sub.add_parser("validate-data", help="check a folder of OULAD tables or a knowledge-tracing export and report what a run would use")
    v.add_argument("data", help="folder with the OULAD tables, or 'synthetic'")
    v.set_defaults(func=cmd_validate)

    t = sub.add_parser("train", help="train DSRSD-Net and write a run directory")
    t.add_argument("--data", required=True, help="folder with the OULAD tables, or 'synthetic'")
    t.add_argument("--task", default=None, help="final_outcome (OULAD) or next_step (knowledge-tracing folders)")
    t.add_argument("--target", default=None, choices=["at_risk", "four_class"])
    t.add_argument("--cutoff-fraction", dest="cutoff_fraction", type=float, default=None,
                   help="predict at this fraction of each module's length (default 0.5)")
    t.add_argument("--presentations", default=None,
                   help='comma-separated presentations to use, e.g. "AAA 2013J,BBB 2013B" (default: all)')
    t.add_argument("--out", required=True)
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--config", default=None, help="TOML or JSON file of settings (see dsrsd_core/train/config.py)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--no-explain", action="store_true", help="skip `dsrsd explain` after training")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("explain", help="add attributions, embeddings, UMAP maps and modality-drop results to a run")
    e.add_argument("run_dir")
    e.add_argument("--umap-max-samples", type=int, default=3000,
                   help="UMAP maps use at most this many samples (seeded subsample)")
    e.add_argument("--quiet", action="store_true")
    e.set_defaults(func=cmd_explain)

    r = sub.add_parser("report", help="write a static, self-contained HTML report of a run's main views")
    r.add_argument("run_dir")
    r.add_argument("--out", required=True, help="the HTML file to write")
    r.set_defaults(func=cmd_report)

    b = sub.add_parser("benchmark", help="train DSRSD-Net, baselines and ablations over seeds; write results tables")
    b.add_argument("--data", required=True, help="folder with the OULAD tables, or 'synthetic'")
    b.add_argument("--task", default="final_outcome", help="final_outcome")
    b.add_argument("--target", default="at_risk", choices=["at_risk", "four_class"])
    b.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (learner split and initialisation)")
    b.add_argument("--out", required=True, help="benchmark folder; rerunning with it resumes (finished cells are kept)")
    b.add_argument("--models", default=None,
                   help="comma-separated model names (default: all; e.g. dsrsd_net,early_fusion,gbm,dsrsd_no_residual)")
    b.add_argument("--presentations", default=None,
                   help='comma-separated presentations to use, e.g. "AAA 2013J,BBB 2013B" (default: all)')
    b.add_argument("--cutoff-fraction", dest="cutoff_fraction", type=float, default=None)
    b.add_argument("--epochs", type=int, default=None)
    b.add_argument("--patience", type=int, default=None)
    b.add_argument("--config", default=None, help="TOML or JSON file of base settings for every model")
    b.add_argument("--device", default="auto", help="auto, cpu or cuda")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=cmd_benchmark)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except DsrsdError as e:
        print(f"dsrsd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dsrsd {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
