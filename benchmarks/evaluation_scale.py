"""Every evaluation metric and the report on 100,000 x 30 real and synthetic rows, timed.

    .venv/bin/python benchmarks/evaluation_scale.py [--rows 100000] [--columns 30]

The tables are drawn from one known mixed-type population (numbers with skew and missing values,
categories up to 40 levels, booleans, a date, a binary outcome with a follow-up time); the
"synthetic" table is a fresh draw with some noise, so every metric has real work to do. Prints the
time of each metric, the report's time and the total, as a markdown table row.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import pandas as pd


def population(n: int, columns: int, seed: int, noise: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 95, n)
    latent = rng.normal(size=n) + 0.03 * (age - 60)
    data: dict[str, object] = {"age": age, "sex": rng.choice(["F", "M"], n)}
    n_num = (columns - 6) // 2
    for i in range(n_num):  # labs: log-normal, tied to the latent risk, 10 % missing
        x = np.exp(0.3 * latent * (i % 3) + rng.normal(0, 0.5 + noise, n))
        x[rng.random(n) < 0.1] = np.nan
        data[f"lab_{i}"] = np.round(x, 2)
    for i in range(columns - 6 - n_num):  # codes: 5 to 40 levels, one tied to the risk
        levels = 5 + 5 * (i % 8)
        p = np.arange(levels, 0, -1) / np.arange(levels, 0, -1).sum()
        codes = rng.choice(levels, n, p=p)
        if i == 0:
            codes = np.clip((latent * 2 + levels / 2).astype(int), 0, levels - 1)
        data[f"code_{i}"] = np.array([f"C{c:02d}" for c in range(levels)])[codes]
    data["smoker"] = rng.random(n) < 0.2
    data["admitted"] = pd.Timestamp("2015-01-01") + pd.to_timedelta(rng.integers(0, 3000, n), "D")
    event = (latent + rng.normal(0, 1, n) > 1.0).astype(int)
    data["futime"] = np.where(event == 1, rng.integers(1, 1000, n), rng.integers(500, 3000, n))
    data["death"] = event
    return pd.DataFrame(data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--columns", type=int, default=30)
    ap.add_argument("--holdout", type=int, default=25_000)
    args = ap.parse_args()

    from generators.schema import infer_spec
    from tasks.config import GateConfig
    from tasks.evaluate import judge_and_report, score

    train = population(args.rows, args.columns, 0)
    holdout = population(args.holdout, args.columns, 1)
    synth = population(args.rows, args.columns, 2, noise=0.1)
    spec = infer_spec(
        train,
        name="scale",
        target="death",
        survival_time="futime",
        quasi_identifiers=["age", "sex", "code_1"],
        sensitive=["code_2", "lab_0"],
    )
    start = time.perf_counter()
    metrics = score(train, holdout, synth, spec)
    scored = time.perf_counter() - start
    metrics, page = judge_and_report(
        metrics, GateConfig().model_dump(), train, holdout, synth, spec, "scale"
    )
    total = time.perf_counter() - start
    print(f"{platform.node()} {platform.processor() or platform.machine()}")
    print(f"{args.rows} x {train.shape[1]} (train), {args.holdout} holdout, {len(synth)} synthetic")
    for name, seconds in sorted(metrics["timings"].items(), key=lambda kv: -kv[1]):
        print(f"  {name:<22} {seconds:6.1f} s")
    print(f"  {'all metrics':<22} {scored:6.1f} s")
    print(f"  {'report':<22} {total - scored:6.1f} s")
    print(f"  {'total':<22} {total:6.1f} s")
    print("notes:", metrics["notes"])
    print({k: round(v, 3) if isinstance(v, float) else v for k, v in metrics["summary"].items()})


if __name__ == "__main__":
    main()
