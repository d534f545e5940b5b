"""One model, one process: fit on a CSV, sample, report seconds and peak memory as JSON.

Run by `benchmarks/sdv_comparison.py`, under SDV's own virtualenv for `sdv:*` models and under
synthcare's for `ours:*`, so neither library is imported into the other's environment and each
process's peak resident memory is the model's own.

    python benchmarks/fit_worker.py MODEL TRAIN.csv SPEC.yaml OUT.csv --epochs E --batch B
        --rows N --speed-rows M
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd


def _sdv(model: str, train: pd.DataFrame, epochs: int, batch: int):  # noqa: ANN202
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

    metadata = Metadata.detect_from_dataframes({"table": train})
    if model == "ctgan":
        return CTGANSynthesizer(metadata, epochs=epochs, batch_size=batch, pac=10)
    if model == "tvae":
        return TVAESynthesizer(metadata, epochs=epochs, batch_size=batch)
    return GaussianCopulaSynthesizer(metadata)


def _table(sampled) -> pd.DataFrame:  # noqa: ANN001 - SDV 2 returns {table name: DataFrame}
    return next(iter(sampled.values())) if isinstance(sampled, dict) else sampled


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")  # sdv:ctgan | sdv:tvae | sdv:gaussian_copula | ours:NAME
    ap.add_argument("train")
    ap.add_argument("spec")
    ap.add_argument("out")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--speed-rows", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    family, name = args.model.split(":")
    train = pd.read_csv(args.train)

    if family == "sdv":
        model = _sdv(name, train, args.epochs, args.batch)  # imports and metadata: not timed
        start = time.perf_counter()
        model.fit({"table": train})  # SDV 2 takes a dict of tables
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        speed = _table(model.sample(args.speed_rows))
        sample_s = time.perf_counter() - start
        out = _table(model.sample(args.rows))
    else:
        from generators import registry
        from generators.schema import DatasetSpec
        from tasks.validation import validate

        spec = DatasetSpec.from_file(args.spec)
        typed = validate(train, spec, args.train)
        guided = name.endswith("+guided")  # as `synthcare generate` ships it
        name = name.removesuffix("+guided")
        settings = (
            {} if name == "gaussian_copula" else {"epochs": args.epochs, "batch_size": args.batch}
        )
        model = registry.create(name, settings)
        start = time.perf_counter()
        model.fit(typed, spec, seed=args.seed)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        speed = model.sample(args.speed_rows, seed=args.seed + 1)
        sample_s = time.perf_counter() - start
        if guided:
            from evaluation.privacy import row_hashes
            from tasks.sample import fit_guidance, guided_sample, target_shares

            modelled = [c.name for c in spec.modelled]
            forbidden = row_hashes(typed[modelled])
            ratio = fit_guidance(model, typed, spec, args.seed, forbidden)
            shares = target_shares(typed, spec)
            out = guided_sample(model, args.rows, args.seed, forbidden, ratio, 16, 0, shares)[0]
        else:
            out = model.sample(args.rows, seed=args.seed)
    out.to_csv(args.out, index=False)
    # VmHWM: this process's own peak (getrusage's ru_maxrss carries the parent's over fork+exec)
    status = Path("/proc/self/status").read_text()
    peak_mb = int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1]) / 1024
    print(
        json.dumps(
            {
                "model": args.model,
                "fit_s": fit_s,
                "sample_rows_per_s": len(speed) / sample_s,
                "peak_mb": peak_mb,
                "threads": os.environ.get("OMP_NUM_THREADS"),
            }
        )
    )


if __name__ == "__main__":
    main()
