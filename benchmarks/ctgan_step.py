"""Where CTGAN's time goes on this CPU: seconds per epoch, the share of matrix products, the
machine's own matrix-product speed, and sampling split into network and decoding.

    .venv/bin/python benchmarks/ctgan_step.py [--epochs 20]

flchain's 80 % training split (6,299 rows), SDV's architecture and batch (256-256 generator and
critic, batch 500, pac 10), torch threads as synthcare sets them.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch
from torch.profiler import ProfilerActivity, profile


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()

    from flows.demo import demo_config, flchain_frame
    from generators import registry
    from generators.schema import infer_spec
    from tasks.split import split_frame
    from tasks.validation import coerce

    config = demo_config("flchain.csv", "/tmp")
    raw = flchain_frame()
    spec = infer_spec(raw, name="flchain", **config.roles())
    train, _, _ = split_frame(coerce(raw, spec)[0], spec, 0.2, 0)
    model = registry.create("ctgan", {"epochs": args.epochs})
    report = model.fit(train, spec, seed=0)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; date: {time.strftime('%Y-%m-%d')}"
    )
    print(
        f"torch threads {torch.get_num_threads()}; {len(train)} rows, width {model.transformer.width}"
    )
    print(
        f"fit {report.seconds:.2f} s for {args.epochs} epochs: {report.seconds_per_epoch:.3f} s/epoch"
    )

    short = registry.create("ctgan", {"epochs": 3})
    original = short._fit

    def profiled(*a, **k):  # noqa: ANN002, ANN003, ANN202
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            result = original(*a, **k)
        events = prof.key_averages()
        total = sum(e.self_cpu_time_total for e in events)
        products = sum(
            e.self_cpu_time_total for e in events if e.key in ("aten::mm", "aten::addmm")
        )
        print(f"matrix products: {products / total:.0%} of the training step's CPU time")
        return result

    short._fit = profiled
    short.fit(train, spec, seed=0)

    a, b = torch.randn(500, 700), torch.randn(700, 256)
    for _ in range(10):
        a @ b
    start = time.perf_counter()
    for _ in range(200):
        a @ b
    gflops = 2 * 500 * 700 * 256 * 200 / (time.perf_counter() - start) / 1e9
    print(f"this machine's matrix product (500x700 @ 700x256): {gflops:.0f} GFLOP/s")

    rows = 200_000
    model.sample(1000, seed=0)
    start = time.perf_counter()
    matrix = model._sample(rows, seed=1)
    network = time.perf_counter() - start
    start = time.perf_counter()
    model.assign_ids(model.transformer.inverse(matrix))
    decode = time.perf_counter() - start
    start = time.perf_counter()
    model.sample(rows, seed=1)
    whole = time.perf_counter() - start
    print(
        f"sampling {rows:,} rows: {rows / whole:,.0f} rows/s "
        f"(network {network:.2f} s, decoding {decode:.2f} s, whole {whole:.2f} s)"
    )
    g = model.generator
    macs = sum(
        m.in_features * m.out_features for m in g.modules() if isinstance(m, torch.nn.Linear)
    )
    from generators.ctgan import _FoldedGenerator

    folded = _FoldedGenerator(g, model.config.embedding_dim)
    folded_macs = folded.from_z.numel() + sum(w.numel() for w in folded.from_hidden)
    print(
        f"generator: {macs:,} multiply-adds a row as trained, {folded_macs:,} folded for sampling "
        f"(the condition a lookup) -> at most {gflops * 1e9 / (2 * folded_macs):,.0f} rows/s"
    )


if __name__ == "__main__":
    main()
