"""The demo's quality and speed on flchain, over several seeds, as a markdown table.

    .venv/bin/python benchmarks/flchain_demo.py --seeds 0 1 2 [--epochs 300] [--out /tmp/bench]

Each seed is one full `generate` run (embedded Prefect), exactly as `make demo` runs it; the
figures are read back from the runs' manifests.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

COLUMNS = [
    ("detection_auc", "detection AUC"),
    ("trtr_auc", "TRTR AUC"),
    ("tstr_auc", "TSTR AUC"),
    ("auc_gap", "TRTR − TSTR"),
    ("column_shape_similarity", "column shapes"),
    ("pair_trend_similarity", "pair trends"),
    ("dcr_share", "DCR share"),
    ("exact_copies", "exact copies"),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--guidance-pool", type=int, default=16)
    ap.add_argument("--out", default="/tmp/synthcare-bench")
    args = ap.parse_args()

    from flows.demo import demo_config, write_flchain_csv
    from flows.generate import generate
    from tasks import storage

    data = write_flchain_csv(Path(args.out) / "input")
    rows = []
    for seed in args.seeds:
        config = demo_config(
            data, args.out, epochs=args.epochs, seed=seed, guidance_pool=args.guidance_pool
        )
        start = time.perf_counter()
        run = generate(config)
        wall = time.perf_counter() - start
        manifest = storage.read_json(storage.join(run, "manifest.json"))
        rows.append((seed, wall, manifest))

    print(
        f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}; "
        f"date: {time.strftime('%Y-%m-%d')}\n"
    )
    head = ["seed", "flow wall s", "train s/epoch"] + [label for _, label in COLUMNS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for seed, wall, m in rows:
        cells = [str(seed), f"{wall:.0f}", f"{m['results']['train']['seconds_per_epoch']:.3f}"]
        cells += [
            f"{m['metrics'][k]:.3f}" if isinstance(m["metrics"][k], float) else str(m["metrics"][k])
            for k, _ in COLUMNS
        ]
        print("| " + " | ".join(cells) + " |")
    if len(rows) > 1:
        means = [
            "mean",
            f"{statistics.mean(w for _, w, _ in rows):.0f}",
            f"{statistics.mean(m['results']['train']['seconds_per_epoch'] for *_, m in rows):.3f}",
        ]
        means += [f"{statistics.mean(m['metrics'][k] for *_, m in rows):.3f}" for k, _ in COLUMNS]
        print("| " + " | ".join(means) + " |")


if __name__ == "__main__":
    main()
