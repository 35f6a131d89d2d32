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


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C: the last completed epoch stays resumable."""


def _raise_terminated(signum, frame):
    raise Terminated()


TRAIN_SETTINGS = ("target", "epochs", "seed", "cutoff_fraction", "task", "split")


def _train_command(args) -> tuple[Path, dict]:
    """(out, command): the run to build and what to train, from the arguments or, with --resume,
    from the interrupted run's saved command."""
    from .train.checkpoint import read_command
    from .train.config import Config

    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in ("data", "out", "config", "presentations", *TRAIN_SETTINGS)
                 if getattr(args, k) is not None]
        if given:
            raise DsrsdError(f"--resume continues with the interrupted run's own settings; drop {', '.join(given)}")
        out = Path(args.resume)
        command = read_command(out)
        if command is None:
            what = ("a finished run" if (out / "run.json").exists() else "no interrupted training")
            raise DsrsdError(f"{out} holds {what}; nothing to resume (start one with `dsrsd train --data ... --out {out}`)")
        # an interrupted training started by an older version resumes with the settings of its day
        cfg = Config.from_record(command["config"], str(out / ".training/command.json"))
        command = {**command, "config": cfg.to_dict()}
        return out, command
    if args.data is None or args.out is None:
        raise DsrsdError("dsrsd train needs --data and --out (or --resume RUN_DIR to continue an interrupted run)")
    cfg = Config.from_file(args.config) if args.config else Config()
    overrides = {k: getattr(args, k) for k in TRAIN_SETTINGS if getattr(args, k) is not None}
    if args.presentations:
        overrides["presentations"] = [p.strip() for p in args.presentations.split(",") if p.strip()]
    cfg = Config.from_dict({**cfg.to_dict(), **overrides}, "command line")
    return Path(args.out), {"config": cfg.to_dict(), "data": args.data}


def _differences(a: dict, b: dict) -> str:
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in keys[:4]) + ("..." if len(keys) > 4 else "")


def cmd_train(args) -> int:
    out, command = _train_command(args)
    return _run_training(args, out, command)


def _run_training(args, out: Path, command: dict) -> int:
    """Train ``command`` into ``out`` under the run's lock, resuming a matching interrupted training."""
    import signal

    from .io import exclusive
    from .train.checkpoint import TRAINING_DIR, read_command, saved_epoch

    check_writable(out)
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0:
        return _train(args, out, command)
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with exclusive(out, "training"):
            existing = read_command(out) if out.is_dir() else None
            if out.exists() and any(out.iterdir()):
                if args.overwrite and not args.resume:
                    existing = None
                    import shutil

                    shutil.rmtree(out / TRAINING_DIR, ignore_errors=True)
                elif existing is None:
                    raise DsrsdError(f"{out} already exists and is not empty; choose another --out or pass --overwrite")
                elif existing.get("config") != command["config"] or existing.get("data") != command["data"]:
                    diff = _differences({**existing["config"], "data": existing["data"]},
                                        {**command["config"], "data": command["data"]})
                    raise DsrsdError(f"{out} holds an interrupted training with other settings ({diff}); continue it "
                                     f"with `dsrsd train --resume {out}` or start over with --overwrite")
            if existing is not None:
                epoch = saved_epoch(out)
                print(f"resuming {out}: {epoch or 0} of {existing['config']['epochs']} epochs were done", flush=True)
            try:
                return _train(args, out, command)
            except KeyboardInterrupt as e:
                how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted"
                code = 143 if isinstance(e, Terminated) else 130
                epoch = saved_epoch(out)
                if not epoch:
                    _discard(out)
                    print(f"dsrsd train: {how} before the first epoch ended; nothing was kept", file=sys.stderr)
                    return code
                print(f"dsrsd train: {how}; epochs 1-{epoch} are saved in {out / TRAINING_DIR}. Continue with "
                      f"`dsrsd train --resume {out}` (or rerun the same command)", file=sys.stderr)
                return code
            except DsrsdError:
                if not saved_epoch(out):
                    _discard(out)
                raise
    finally:
        signal.signal(signal.SIGTERM, previous)


def _discard(out: Path) -> None:
    """Remove the training state of a run that saved no epoch (and ``out`` when that leaves it empty)."""
    import shutil

    from .train.checkpoint import TRAINING_DIR

    shutil.rmtree(out / TRAINING_DIR, ignore_errors=True)
    try:
        out.rmdir()
    except OSError:
        pass


def _train(args, out: Path, command: dict) -> int:
    from .models import build_model
    from .run_dir import write_training_run
    from .train.checkpoint import Checkpointer, training_dir, write_command
    from .train.config import Config
    from .train.pipeline import prepare
    from .train.trainer import resolve_device, train_model

    cfg = Config.from_dict(command["config"], "command line")
    device = resolve_device(args.device)
    progress = not args.quiet
    t0 = time.perf_counter()
    data, split, data_dir = prepare(command["data"], cfg, progress)
    t_data = time.perf_counter() - t0
    expected = command.get("expect_fingerprint")
    if expected and data.report.get("fingerprint") != expected:
        changed = sorted(k for k in set(expected) | set(data.report.get("fingerprint") or {})
                         if expected.get(k) != (data.report.get("fingerprint") or {}).get(k))
        raise DsrsdError(f"the data in {data_dir} changed since the run was made ({', '.join(changed)} differ); "
                         f"it cannot be repeated on this data")
    checkpoint = None
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        write_command(out, {**command, "device": str(device)})
        checkpoint = Checkpointer(training_dir(out), {"data_fingerprint": json.dumps(data.report.get("fingerprint"),
                                                                                       sort_keys=True)})
    result = train_model(lambda: build_model(data.specs(), len(data.classes), cfg), data, split, cfg, str(device),
                         progress, checkpoint=checkpoint)
    result.seconds["prepare_data"] = t_data
    if torch_distributed_initialised():
        import torch.distributed as dist

        dist.destroy_process_group()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    # ``out`` holds only .training (ours, under the lock) or was emptied by --overwrite
    write_training_run(out, data, result, cfg, str(device),
                       "synthetic" if command["data"] == "synthetic" else str(data_dir), overwrite=True)
    test = result.metrics["test"]
    print(f"wrote {out}: test AUC {test['auc']:.3f}, macro-F1 {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f} "
          f"(best epoch {result.best_epoch}, {result.seconds['per_epoch_mean']:.1f} s/epoch on {device})")
    if not args.no_explain:
        from .explain.recorder import explain

        print(explain_line(out, explain(out, data=data, progress=progress)))
    return 0


def cmd_explain(args) -> int:
    from .explain.recorder import explain
    from .io import exclusive

    from contextlib import nullcontext

    with exclusive(args.run_dir, "explaining") if Path(args.run_dir).is_dir() else nullcontext():
        limit = {} if args.input_ig_max_samples is None else {"input_ig_max_samples": args.input_ig_max_samples or None}
        summary = explain(args.run_dir, progress=not args.quiet, umap_max_samples=args.umap_max_samples, **limit)
    print(explain_line(args.run_dir, summary))
    return 0


def cmd_rerun(args) -> int:
    from .rerun import compare_runs, describe, rerun_command
    from .run_dir import load_run

    from .threads import set_threads

    old = load_run(args.run_dir, require_explain=False)
    set_threads(args.threads or old.info.get("cpu_threads"))
    out = Path(args.out)
    if out.resolve() == old.path.resolve():
        raise DsrsdError("--out must name a new directory, not the run being repeated")
    ns = argparse.Namespace(resume=None, overwrite=False, quiet=args.quiet, no_explain=not old.explained,
                            device=args.device or old.info.get("device") or "auto")
    if ns.device.startswith("cuda"):
        from .train.trainer import resolve_device

        try:
            resolve_device(ns.device)
        except DsrsdError:
            ns.device = "cpu"
    print(f"repeating {old.path} ({old.info.get('model')}, seed {old.config.get('seed')}, data "
          f"{old.info['data'].get('source')}) on {ns.device} into {out}", flush=True)
    code = _run_training(ns, out, rerun_command(old))
    if code != 0:
        return code
    text, matched = describe(old, load_run(out, require_explain=False), compare_runs(old, load_run(out, require_explain=False)))
    print(text)
    return 0 if matched else 1


def cmd_report(args) -> int:
    from .report import write_report

    notes: list[str] = []
    out = write_report(args.run_dir, args.out, notes)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB; opens offline in any browser)")
    for note in notes:
        print(f"note: {note}")
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
                        ("--cutoff-fraction", args.cutoff_fraction), ("--split", args.split),
                        ("--config", args.config)):
        if value is not None:
            command += [flag, str(value)]
    info = run_benchmark(args.data, out, args.seeds, models=models, target=args.target, task=args.task,
                         presentations=presentations, config=cfg, split=args.split, device=args.device, progress=not args.quiet,
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
    t.add_argument("--data", default=None, help="folder with the OULAD tables, or 'synthetic'")
    t.add_argument("--task", default=None,
                   help="final_outcome (OULAD) or next_step (OULAD's next assessment, or knowledge-tracing folders)")
    t.add_argument("--target", default=None, choices=["at_risk", "four_class", "three_class"],
                   help="at_risk (default), four_class (final_outcome), three_class (next_step on OULAD)")
    t.add_argument("--cutoff-fraction", dest="cutoff_fraction", type=float, default=None,
                   help="predict at this fraction of each module's length (default 0.5)")
    t.add_argument("--presentations", default=None,
                   help='comma-separated presentations to use, e.g. "AAA 2013J,BBB 2013B" (default: all)')
    t.add_argument("--out", default=None, help="the run directory to write; rerunning the same command after an "
                   "interruption continues the saved training")
    t.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue the interrupted training of RUN_DIR with its saved settings")
    t.add_argument("--split", default=None, choices=["learner", "temporal"],
                   help="learner: random learners per split (default); temporal: a module's latest presentation tests, "
                        "the one before validates, earlier ones train, no learner in two splits (earlier enrolments of "
                        "test learners are left out)")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--seed", type=int, default=None)
    t.add_argument("--device", default="auto", help="auto, cpu or cuda")
    t.add_argument("--config", default=None, help="TOML or JSON file of settings (see dsrsd_core/train/config.py)")
    t.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    t.add_argument("--quiet", action="store_true", help="no progress bars")
    t.add_argument("--no-explain", action="store_true", help="skip `dsrsd explain` after training")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch and numba (default: OMP_NUM_THREADS, else cores - 1; docs/performance.md)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("explain", help="add attributions, embeddings, UMAP maps and modality-drop results to a run")
    e.add_argument("run_dir")
    e.add_argument("--umap-max-samples", type=int, default=1500,
                   help="UMAP maps are fitted on at most this many samples (seeded subsample); the others are placed "
                        "(default 1500, dsrsd_core/explain/recorder.py: UMAP_MAX_SAMPLES)")
    e.add_argument("--input-ig-max-samples", type=int, default=None,
                   help="input-level integrated gradients for at most this many samples (seeded subsample; 0: all; "
                        "default 2500, dsrsd_core/explain/recorder.py: INPUT_IG_MAX_SAMPLES)")
    e.add_argument("--quiet", action="store_true")
    e.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch and numba (default: OMP_NUM_THREADS, else cores - 1; docs/performance.md)")
    e.set_defaults(func=cmd_explain)

    rr = sub.add_parser("rerun", help="repeat a run from its run.json and config.json and say whether it matches")
    rr.add_argument("run_dir")
    rr.add_argument("--out", required=True, help="the new run directory")
    rr.add_argument("--device", default=None, help="default: the device the run was trained on (cpu if no GPU)")
    rr.add_argument("--quiet", action="store_true")
    rr.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default: the run's own run.json:cpu_threads, so CPU sums repeat bit for bit)")
    rr.set_defaults(func=cmd_rerun)

    r = sub.add_parser("report", help="write a static, self-contained HTML report of a run's main views")
    r.add_argument("run_dir")
    r.add_argument("--out", required=True, help="the HTML file to write")
    r.set_defaults(func=cmd_report)

    b = sub.add_parser("benchmark", help="train DSRSD-Net, baselines and ablations over seeds; write results tables")
    b.add_argument("--data", required=True, help="folder with the OULAD tables, or 'synthetic'")
    b.add_argument("--task", default="final_outcome",
                   help="final_outcome (OULAD) or next_step (OULAD's next assessment, or knowledge-tracing folders)")
    b.add_argument("--target", default="at_risk", choices=["at_risk", "four_class", "three_class"],
                   help="at_risk (default), four_class (final_outcome), three_class (next_step on OULAD: pass / fail / "
                        "not submitted); knowledge-tracing folders predict correctness whatever the target")
    b.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (learner split and initialisation)")
    b.add_argument("--out", required=True, help="benchmark folder; rerunning with it resumes (finished cells are kept)")
    b.add_argument("--models", default=None,
                   help="comma-separated model names (default: all; e.g. dsrsd_net,early_fusion,gbm,dsrsd_no_residual)")
    b.add_argument("--presentations", default=None,
                   help='comma-separated presentations to use, e.g. "AAA 2013J,BBB 2013B" (default: all)')
    b.add_argument("--cutoff-fraction", dest="cutoff_fraction", type=float, default=None)
    b.add_argument("--split", default=None, choices=["learner", "temporal"],
                   help="learner: random learners per split (default); temporal: a module's latest presentation tests, "
                        "the one before validates, earlier ones train, no learner in two splits (earlier enrolments of "
                        "test learners are left out)")
    b.add_argument("--epochs", type=int, default=None)
    b.add_argument("--patience", type=int, default=None)
    b.add_argument("--config", default=None, help="TOML or JSON file of base settings for every model")
    b.add_argument("--device", default="auto", help="auto, cpu or cuda")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch and numba (default: OMP_NUM_THREADS, else cores - 1; docs/performance.md)")
    b.set_defaults(func=cmd_benchmark)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command in ("train", "explain", "benchmark"):
            from .threads import set_threads

            set_threads(args.threads)
        return args.func(args)
    except DsrsdError as e:
        print(f"dsrsd {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dsrsd {args.command}: interrupted; nothing half-written was kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
