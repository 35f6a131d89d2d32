"""Benchmark: exact stream Shapley values (all coalitions, batched) against captum's ShapleyValues
with the same grouping (one feature per stream, removal = the model's missing-stream mask).

    python benchmarks/shapley_speed.py checkpoints/default --samples 30000

The run's own samples are repeated up to --samples. Captum computes one target class per call;
ours returns every class at once, so the comparison is for the predicted class only.
"""
from __future__ import annotations

import argparse
import time

import torch
from captum.attr import ShapleyValues

from dsrsd_core.explain.recorder import encode_all
from dsrsd_core.explain.shapley import exact_stream_shapley
from dsrsd_core.run_dir import load_run
from dsrsd_core.train.pipeline import load_training_data
from dsrsd_core.train.batching import to_tensors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--samples", type=int, default=30000)
    ap.add_argument("--perturbations-per-eval", type=int, default=16)
    args = ap.parse_args()
    run = load_run(args.run, require_explain=False)
    model = run.model()
    enc = encode_all(model, to_tensors(load_training_data(run)))
    reps = -(-args.samples // len(enc["streams"]))
    streams = enc["streams"].repeat(reps, 1, 1)[:args.samples]
    present = enc["mask"].repeat(reps, 1)[:args.samples]

    t0 = time.perf_counter()
    ours = exact_stream_shapley(model.predict_from_streams, streams, present)
    t_ours = time.perf_counter() - t0
    target = ours["full"].argmax(1)
    phi_ours = ours["phi"][torch.arange(len(target)), :, target]

    def forward(keep, streams, present):
        logits, _ = model.predict_from_streams(streams, present & (keep > 0.5))
        return torch.softmax(logits, -1)

    keep = torch.ones(len(streams), streams.shape[1])
    t0 = time.perf_counter()
    with torch.no_grad():
        theirs = ShapleyValues(forward).attribute(
            keep, baselines=torch.zeros_like(keep), target=target, additional_forward_args=(streams, present),
            feature_mask=torch.arange(streams.shape[1]).unsqueeze(0),
            perturbations_per_eval=args.perturbations_per_eval)
    t_captum = time.perf_counter() - t0
    print(f"samples              {len(streams):,}  streams {streams.shape[1]}  coalitions {2 ** streams.shape[1]}")
    print(f"exact (ours)         {t_ours:.2f} s  (all {ours['phi'].shape[-1]} classes)")
    print(f"captum ShapleyValues {t_captum:.2f} s  (predicted class only)")
    print(f"speed-up             {t_captum / t_ours:.0f}x")
    print(f"max |difference|     {(phi_ours - theirs).abs().max().item():.2e}")


if __name__ == "__main__":
    main()
