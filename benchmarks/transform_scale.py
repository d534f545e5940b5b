"""Fitting every column transform on 1,000,000 rows x 20 columns, timed.

    .venv/bin/python benchmarks/transform_scale.py [--rows 1000000]

Columns as in `benchmarks/evaluation_scale.py` (skewed labs with missing values, codes with up to 40
levels, a boolean, a date, an outcome). Prints the seconds to fit the transforms (mixture modes on
a seeded 20,000-row subsample per column, then categories and bounds on every row) and to encode
the whole table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    args = ap.parse_args()

    from evaluation_scale import population

    from generators.schema import infer_spec
    from generators.transforms import TableTransformer

    df = population(args.rows, 20, 0)
    spec = infer_spec(df, name="scale", target="death")
    start = time.perf_counter()
    transformer = TableTransformer.fit(df, spec)
    fitted = time.perf_counter() - start
    start = time.perf_counter()
    matrix = transformer.transform(df)
    encoded = time.perf_counter() - start
    print(
        f"{len(df):,} rows x {df.shape[1]} columns -> matrix {matrix.shape}, {matrix.nbytes / 1e9:.2f} GB"
    )
    print(f"fit transforms: {fitted:.1f} s; encode every row: {encoded:.1f} s")


if __name__ == "__main__":
    main()
