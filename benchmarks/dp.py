"""Differential privacy on the quality suite: the `dp` family (noisy marginals) and DP-CTGAN
(DP-SGD) at several epsilons, scored like `benchmarks/quality.py`.

    .venv/bin/python benchmarks/dp.py [--epsilons 0.5 1 3 10] [--families dp ctgan]
        [--tables ...] [--seeds 0 1 2] [--ctgan-epochs 50] [--out FILE] [--markdown]

Each run: stratified 70/30 split of the table, a private fit on the 70 %, as many synthetic rows,
synthcare's own scores against the real holdout (TSTR/TRTR with the table's outcome and leak
columns from `benchmarks/suite.py`). Guided sampling is off (it reads the real rows).

Domains: DP needs every column's range declared, not learnt. flchain uses the clinician-declared
bounds of `benchmarks/dp_flchain.py`; the other tables use their inferred spec's values and
ranges *as if declared* (the usual assumption of a public domain, as in NIST's challenges): the
spec is the one thing not paid for out of epsilon. delta is 1 / (10 n).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from quality import _fmt, finished, markdown  # noqa: E402
from suite import TABLES, load  # noqa: E402

EPSILONS = [0.5, 1.0, 3.0, 10.0]


def spec_of(name: str, frame, target: str, non_predictors: list[str]):  # noqa: ANN001, ANN201
    from dp_flchain import DECLARED

    from generators.schema import infer_spec

    spec = infer_spec(frame, name=name, target=target, non_predictors=non_predictors)
    return spec.with_ranges(DECLARED) if name == "flchain" else spec


def run_one(
    name: str, family: str, epsilon: float, seed: int, ctgan_epochs: int, extra: dict | None = None
) -> dict:
    import warnings

    from evaluation.gate import tstr_ratio
    from generators import registry
    from tasks.evaluate import score
    from tasks.sample import draw
    from tasks.split import split_frame
    from tasks.validation import coerce

    table = load(name)
    spec = spec_of(name, table.frame, table.target, table.non_predictors)
    df = coerce(table.frame, spec)[0]
    train, holdout, _ = split_frame(df, spec, 0.3, seed)
    settings = {"dp_epsilon": epsilon, **(extra or {})}
    if family == "ctgan":
        settings["epochs"] = ctgan_epochs
    start = time.perf_counter()
    model = registry.create(family, settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus: secure_mode off
        report = model.fit(train, spec, seed=seed)
    synth, replaced = draw(model, train, spec, len(train), seed, 1)  # as a run: copies dropped
    seconds = time.perf_counter() - start
    summary = score(train, holdout, synth, spec, seed=seed)["summary"]
    return {
        "table": name,
        "family": label_of(family, epsilon, extra),
        "chosen": family,
        "epsilon": report.privacy["epsilon"],
        "seed": seed,
        "rows": len(df),
        "utility": tstr_ratio(summary),
        "fit_seconds": round(seconds, 2),
        "copies_replaced": replaced,
        "chosen_marginals": report.privacy.get("chosen"),
        **{
            k: summary.get(k)
            for k in (
                "tstr_auc",
                "trtr_auc",
                "detection_auc",
                "column_shape_similarity",
                "pair_trend_similarity",
                "dcr_share",
                "membership_auc",
                "exact_copies",
            )
        },
    }


def label_of(family: str, epsilon: float, extra: dict | None) -> str:
    settings = "".join(f",{k}={v}" for k, v in sorted((extra or {}).items()))
    return f"{family}{settings} ε={epsilon:g}"


def scale(rows: int = 20_000, columns: int = 30, epsilon: float = 1.0) -> dict:
    """Fit + sample seconds of `dp` on a generated table of ``rows`` x ``columns`` (a third each
    numbers, integers and categories, declared ranges, 5 % missing numbers, a binary target)."""
    import numpy as np
    import pandas as pd

    from generators import registry
    from generators.schema import ColumnSpec, DatasetSpec

    rng = np.random.default_rng(0)
    data, specs = {}, []
    for j in range(columns - 1):
        name = f"x{j}"
        if j % 3 == 0:
            x = rng.normal(50, 10, rows).clip(0, 100)
            x[rng.random(rows) < 0.05] = np.nan
            specs.append(ColumnSpec(name=name, type="numeric", min=0.0, max=100.0))
        elif j % 3 == 1:
            x = rng.integers(0, 1000, rows)
            specs.append(ColumnSpec(name=name, type="integer", nullable=False, min=0, max=999))
        else:
            x = rng.choice([f"c{k}" for k in range(8)], rows)
            values = [f"c{k}" for k in range(8)]
            specs.append(ColumnSpec(name=name, type="categorical", nullable=False, values=values))
        data[name] = x
    data["y"] = (rng.random(rows) < 0.2).astype(int)
    specs.append(ColumnSpec(name="y", type="boolean", nullable=False, values=[0, 1]))
    frame = pd.DataFrame(data)
    spec = DatasetSpec(name="scale", columns=specs, target="y")
    start = time.perf_counter()
    model = registry.create("dp", {"dp_epsilon": epsilon})
    model.fit(frame, spec, seed=0)
    fitted = time.perf_counter()
    model.sample(rows, seed=0)
    done = time.perf_counter()
    return {"rows": rows, "columns": columns, "fit_s": fitted - start, "sample_s": done - fitted}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epsilons", nargs="+", type=float, default=EPSILONS)
    ap.add_argument("--families", nargs="+", default=["dp"], choices=["dp", "ctgan"])
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--ctgan-epochs", type=int, default=50)
    ap.add_argument("--out", default="/tmp/synthcare-dp.jsonl")
    ap.add_argument("--markdown", action="store_true", help="print the tables from --out")
    ap.add_argument("--set", default="{}", help='family settings as JSON, e.g. {"bins": 8}')
    ap.add_argument("--scale", action="store_true", help="time dp on 20,000 x 30 and stop")
    args = ap.parse_args()
    if args.scale:
        print(json.dumps(scale()))
        return
    out = Path(args.out)
    extra = json.loads(args.set)
    labels = [label_of(f, e, extra) for f in args.families for e in args.epsilons]
    if args.markdown:
        results = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        results = [r for r in results if r["table"] in args.tables]
        print(markdown(results, labels))
        return
    done = finished(out)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    for name in args.tables:
        for seed in args.seeds:
            for family in args.families:
                for epsilon in args.epsilons:
                    if (name, label_of(family, epsilon, extra), seed) in done:
                        continue
                    result = run_one(name, family, epsilon, seed, args.ctgan_epochs, extra)
                    with out.open("a") as f:
                        f.write(json.dumps(result) + "\n")
                    print(
                        f"{name} s{seed} {result['family']}: utility "
                        f"{_fmt(result['utility'], 'utility')}, shapes "
                        f"{_fmt(result['column_shape_similarity'], 'x')}, detection "
                        f"{_fmt(result['detection_auc'], 'x')}, {result['fit_seconds']} s",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
