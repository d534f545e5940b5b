"""CTGAN in one process against data parallel over N processes, same epochs and global batch:
seconds per epoch and the quality of what comes out (detection AUC, TSTR AUC).

    .venv/bin/python benchmarks/data_parallel.py [--epochs 100] [--processes 2]

flchain's 80 % training split, the demo's roles, default CTGAN settings. On CPU the processes
share the machine's cores (gloo); on a machine with N GPUs each process gets one (NCCL).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()

    from flows.demo import demo_config, flchain_frame
    from generators import registry
    from generators.schema import infer_spec
    from tasks.evaluate import score
    from tasks.split import split_frame
    from tasks.validation import coerce

    config = demo_config("flchain.csv", "/tmp")
    raw = flchain_frame()
    spec = infer_spec(raw, name="flchain", **config.roles())
    train, holdout, _ = split_frame(coerce(raw, spec)[0], spec, 0.2, 0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, device {device}; "
        f"date: {time.strftime('%Y-%m-%d')}; {len(train)} rows, {args.epochs} epochs"
    )
    print("| processes | s/epoch | detection AUC | TSTR AUC (TRTR) |")
    print("|---|---|---|---|")
    for processes in (1, args.processes):
        model = registry.create("ctgan", {"epochs": args.epochs, "data_parallel": processes})
        start = time.perf_counter()
        model.fit(train, spec, seed=0)
        seconds = time.perf_counter() - start  # launching the processes included
        synth = model.sample(len(train), seed=1)
        summary = score(train, holdout, synth, spec, seed=0)["summary"]
        print(
            f"| {processes} | {seconds / args.epochs:.3f} | {summary['detection_auc']:.3f} | "
            f"{summary['tstr_auc']:.3f} ({summary['trtr_auc']:.3f}) |"
        )


if __name__ == "__main__":
    main()
