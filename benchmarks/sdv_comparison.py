"""synthcare against SDV on the same machine, in one go: fit time at equal epochs and batch size,
sampling speed, peak memory, and the same quality and privacy scores for every model.

    .venv/bin/python benchmarks/sdv_comparison.py [--datasets flchain whas500] [--epochs 300]

SDV (BSL licence) is never a dependency of synthcare: the script expects it in its own
virtualenv, `benchmarks/.venv-sdv`, made with

    python3 -m venv benchmarks/.venv-sdv
    benchmarks/.venv-sdv/bin/pip install torch==2.13.0 sdv==2.0.0

Each model fits in its own process (`benchmarks/fit_worker.py`) on the same training split
(seed 0, 80 %, stratified on the outcome), with torch on the same number of threads; every
synthetic table is then scored by synthcare's evaluation against the same holdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SDV_PYTHON = ROOT / "benchmarks" / ".venv-sdv" / "bin" / "python"
MODELS = [
    "sdv:ctgan",
    "ours:ctgan",
    "ours:ctgan+guided",
    "sdv:tvae",
    "ours:tvae",
    "sdv:gaussian_copula",
    "ours:gaussian_copula",
    "ours:tabddpm",  # SDV has no diffusion model
]
SCORES = [
    ("detection_auc", "detection AUC"),
    ("tstr_auc", "TSTR AUC"),
    ("trtr_auc", "TRTR AUC"),
    ("column_shape_similarity", "shapes"),
    ("pair_trend_similarity", "pairs"),
    ("dcr_share", "DCR share"),
    ("membership_auc", "MIA AUC"),
    ("exact_copies", "copies"),
]


def datasets(folder: Path) -> dict[str, tuple[Path, str, str | None, list[str]]]:
    """name -> (csv, target, survival time, non-predictors), written from installed packages."""
    from sksurv.datasets import load_whas500

    from flows.demo import NON_PREDICTORS, write_flchain_csv

    features, outcome = load_whas500()
    whas = features.copy()
    for col in whas.columns:
        if str(whas[col].dtype) == "category":
            whas[col] = whas[col].astype(float).astype(int)
    whas["lenfol"] = outcome["lenfol"].astype(int)
    whas["fstat"] = outcome["fstat"].astype(int)
    whas_csv = folder / "whas500.csv"
    whas.to_csv(whas_csv, index=False)
    return {
        "flchain": (write_flchain_csv(folder), "death", "futime", NON_PREDICTORS),
        "whas500": (whas_csv, "fstat", "lenfol", ["lenfol"]),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["flchain", "whas500"])
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--out", default="/tmp/synthcare-bench-sdv")
    args = ap.parse_args()
    if not SDV_PYTHON.exists():
        sys.exit(f"SDV's virtualenv is missing: see the instructions in {__file__}")

    import pandas as pd

    from generators.schema import infer_spec
    from tasks.evaluate import score
    from tasks.split import split_frame
    from tasks.validation import coerce, validate

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(min(4, os.cpu_count() or 1))}
    results = []
    for name in args.datasets:
        csv, target, survival, non_predictors = datasets(out)[name]
        raw = pd.read_csv(csv)
        spec = infer_spec(
            raw, name=name, target=target, survival_time=survival, non_predictors=non_predictors
        )
        typed = validate(raw, spec, str(csv))
        train, holdout, _ = split_frame(typed, spec, 0.2, 0)
        train_csv, spec_path = out / f"{name}-train.csv", out / f"{name}-spec.yaml"
        train.to_csv(train_csv, index=False)
        spec_path.write_text(spec.to_yaml())
        for model in args.models:
            python = SDV_PYTHON if model.startswith("sdv:") else Path(sys.executable)
            synth_csv = out / f"{name}-{model.replace(':', '-')}.csv"
            cmd = [str(python), str(ROOT / "benchmarks" / "fit_worker.py"), model]
            cmd += [str(train_csv), str(spec_path), str(synth_csv), "--epochs", str(args.epochs)]
            cmd += ["--batch", str(args.batch), "--rows", str(len(train))]
            start = time.perf_counter()
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
            if done.returncode:
                print(f"{name} {model} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
                continue
            timing = json.loads(done.stdout.strip().splitlines()[-1])
            synth = coerce(pd.read_csv(synth_csv)[spec.names], spec)[0]
            try:
                summary = score(train, holdout, synth, spec)["summary"]
            except ValueError as exc:  # e.g. a model that produced a single outcome class
                print(f"{name} {model}: not scored: {exc}", file=sys.stderr)
                summary = {}
            results.append((name, model, time.perf_counter() - start, timing, summary))
            print(name, model, round(timing["fit_s"], 1), "s", flush=True)

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores; date: {time.strftime('%Y-%m-%d')}"
    )
    print(f"epochs {args.epochs}, batch {args.batch}; torch threads {env['OMP_NUM_THREADS']}\n")
    head = ["data", "model", "fit s", "rows/s sampled", "peak MB"] + [label for _, label in SCORES]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for name, model, _, timing, summary in results:
        cells = [name, model, f"{timing['fit_s']:.1f}", f"{timing['sample_rows_per_s']:,.0f}"]
        cells.append(f"{timing['peak_mb']:.0f}")
        cells += [
            f"{summary[k]:.3f}" if isinstance(summary.get(k), float) else str(summary.get(k))
            for k, _ in SCORES
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
