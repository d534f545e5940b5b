"""What `--generator auto` chooses on flchain and whas500, and why: every candidate's scores.

    .venv/bin/python benchmarks/auto_choice.py [--datasets flchain whas500] [--out /tmp/bench-auto]

Each dataset is one full `generate` run with generator auto (embedded Prefect, 300 epochs,
guided sampling as the demo ships it); the table is read back from the run's manifest.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

SCORES = [
    ("column_shape_similarity", "shapes"),
    ("pair_trend_similarity", "pairs"),
    ("detection_auc", "detection"),
    ("tstr_auc", "TSTR AUC"),
    ("trtr_auc", "TRTR AUC"),
    ("dcr_share", "DCR share"),
    ("membership_auc", "MIA AUC"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=["flchain", "whas500"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="/tmp/synthcare-bench-auto")
    args = ap.parse_args()

    from sdv_comparison import datasets  # this folder is on the path when run as a script

    from flows.generate import generate
    from tasks import storage
    from tasks.config import RunConfig

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; date: {time.strftime('%Y-%m-%d')}"
    )
    for name in args.datasets:
        csv, target, survival, non_predictors = datasets(out)[name]
        config = RunConfig(
            data=str(csv),
            target=target,
            survival_time=survival,
            non_predictors=non_predictors,
            dataset=name,
            generator="auto",
            seed=args.seed,
            output=str(out / "runs"),
        )
        start = time.perf_counter()
        run = generate(config)
        wall = time.perf_counter() - start
        manifest = storage.read_json(storage.join(run, "manifest.json"))
        auto = manifest["results"]["auto"]
        print(f"\n### {name}: chose {auto['chosen']['name']} ({auto['reason']}); flow {wall:.0f} s")
        print("Validation split (candidates trained on 80 % of the training split):\n")
        head = ["candidate", "fit s", "quality", "fidelity", "utility", "private"]
        head += [label for _, label in SCORES]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for c in auto["candidates"]:
            cells = [c["candidate"]["name"], f"{c['fit_seconds']:.1f}", f"{c['quality']:.3f}"]
            cells += [
                f"{c['fidelity']:.3f}",
                "—" if c["utility"] is None else f"{c['utility']:.3f}",
            ]
            cells.append("yes" if c["private"] else "no: " + "; ".join(c["reasons"]))
            cells += [
                f"{c['scores'][k]:.3f}" if isinstance(c["scores"].get(k), float) else "—"
                for k, _ in SCORES
            ]
            print("| " + " | ".join(cells) + " |")
        m = manifest["metrics"]
        print(
            f"\nFinal run (chosen model retrained on the whole training split, scored on the "
            f"holdout): gate {manifest['status']}, "
            + ", ".join(f"{label} {m[k]:.3f}" for k, label in SCORES if isinstance(m.get(k), float))
        )


if __name__ == "__main__":
    main()
