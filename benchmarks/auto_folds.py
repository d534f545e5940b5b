"""Would `auto` choose better on small tables by averaging its validation score over folds?

    .venv/bin/python benchmarks/auto_folds.py collect --tables birthwt veterans --folds 5 --out F
    .venv/bin/python benchmarks/auto_folds.py rules --out F --holdout R1 [R2 ...]

``collect``: per table and seed, the 70 % training split of ``benchmarks/quality.py`` (the same
seed) cut into ``--folds`` stratified folds; every candidate ``auto`` would try (the same
families, settings, seeds and time-budget plan) is fitted on all folds but one and judged on the
one left out exactly as ``auto`` judges on its validation split (``tasks.select.judge``: quality
and privacy verdict). One JSON line per table, seed and family with every fold's score.

``rules``: the choice ``auto``'s rule makes from the first fold alone (one split, as today) and
from the mean over folds (a candidate counts as private when it is private on most folds), each
looked up in the quality files' holdout results as ``benchmarks/auto_rules.py`` does.
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

from auto_rules import best_quality, holdout_index  # noqa: E402
from suite import TABLES, prepared  # noqa: E402


def collect(tables: list[str], seeds: list[int], folds: int, out: Path) -> None:
    from sklearn.model_selection import KFold, StratifiedKFold

    from generators import registry
    from tasks.config import GateConfig
    from tasks.select import FAMILIES, candidate_rows, estimated_width, judge, plan
    from tasks.split import split_frame

    gate = GateConfig().model_dump()
    done = set()
    if out.exists():
        done = {
            (r["table"], r["seed"], r["generator"])
            for r in map(json.loads, out.read_text().splitlines())
        }
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    for name in tables:
        spec, df = prepared(name)
        for seed in seeds:
            train, _, _ = split_frame(df, spec, 0.3, seed)
            labels = train[spec.target].astype(str).to_numpy()
            column = spec.column(spec.target)
            splitter = (StratifiedKFold if column.is_discrete else KFold)(
                folds, shuffle=True, random_state=seed
            )
            cuts = list(splitter.split(train, labels))
            chosen_from, _ = plan(
                FAMILIES,
                seed=seed,
                fit_rows=len(cuts[0][0]),
                width=estimated_width(spec),
                spec=spec,
            )
            for candidate in chosen_from:
                if (name, seed, candidate.generator) in done:
                    continue
                scores = []
                for fit_rows, validation_rows in cuts:
                    fit, validation = train.iloc[fit_rows], train.iloc[validation_rows]
                    model = registry.create(candidate.generator, candidate.settings)
                    report = model.fit(fit, spec, seed=candidate.seed)
                    synth = candidate_rows(model, fit, spec, candidate.seed)
                    judged = judge(candidate, report.seconds, fit, validation, synth, spec, gate)
                    scores.append(judged.model_dump(mode="json"))
                line = {"table": name, "seed": seed, "generator": candidate.generator}
                with out.open("a") as f:
                    f.write(json.dumps({**line, "folds": scores}) + "\n")
                print(
                    f"{name} s{seed} {candidate.generator}: "
                    + " ".join(f"{s['quality']:.3f}{'' if s['private'] else 'x'}" for s in scores),
                    flush=True,
                )


def choose(families: dict[str, list[dict]], mean: bool) -> str:
    """``auto``'s rule (``auto_rules.best_quality``) on the first fold's scores alone, or
    (``mean``) on each family's quality averaged over the folds, private on most of them."""
    if not mean:
        return best_quality([scores[0] for scores in families.values()])
    averaged = [
        {
            **scores[0],
            "quality": float(np.mean([s["quality"] for s in scores])),
            "private": sum(s["private"] for s in scores) * 2 > len(scores),
        }
        for scores in families.values()
    ]
    return best_quality(averaged)


def rules(out: Path, holdout: list[Path]) -> None:
    runs: dict[tuple[str, int], dict[str, list[dict]]] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        runs.setdefault((r["table"], r["seed"]), {})[r["generator"]] = r["folds"]
    index = holdout_index(holdout)
    for label, mean in (("one split (as today)", False), ("mean over the folds", True)):
        per_table: dict[str, list[float]] = {}
        picks = []
        for (table, seed), families in sorted(runs.items()):
            family = choose(families, mean)
            result = index.get((table, family, seed))
            picks.append(f"{table} s{seed} {family}")
            if result is not None:
                per_table.setdefault(table, []).append(result["utility"])
        means = {t: float(np.mean(v)) for t, v in per_table.items()}
        print(
            f"{label}: "
            + ", ".join(f"{t} {v:.3f}" for t, v in sorted(means.items()))
            + f"; picks: {', '.join(picks)}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["collect", "rules"])
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=["birthwt", "veterans"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--out", required=True, help="the folds' scores (JSON lines)")
    ap.add_argument("--holdout", nargs="*", default=[], help="quality.py results files")
    args = ap.parse_args()
    if args.mode == "collect":
        collect(args.tables, args.seeds, args.folds, Path(args.out))
    else:
        rules(Path(args.out), [Path(p) for p in args.holdout])


if __name__ == "__main__":
    main()
