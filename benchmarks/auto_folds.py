"""`auto`'s validation score averaged over folds on small tables, against one validation split.

    .venv/bin/python benchmarks/auto_folds.py collect --tables birthwt veterans --out F
    .venv/bin/python benchmarks/auto_folds.py rules --out F [F2 ...] --single V --holdout R1 [R2 ...]

``collect``: per table and seed, the 70 % training split of ``benchmarks/quality.py`` (the same
seed), the candidates ``auto`` would try there and the folds it would score them on
(``tasks.select``: ``plan``, ``fold_count``, ``fold_frames``; a table that ``auto`` scores on
one split is left out). Every candidate is fitted on each fold's fit rows and judged on its
validation rows exactly as ``auto`` judges (``tasks.select.judge``). One JSON line per table,
seed and family with every fold's score.

``rules``: ``auto``'s rule on one validation split (``--single``: the candidates file of
``benchmarks/auto_rules.py collect`` or ``rescore``) and on the pooled fold scores
(``tasks.select.pooled``), each choice looked up in the quality files' holdout results and
summed up over the suite as ``benchmarks/auto_rules.py`` does.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from auto_rules import best_quality, holdout_index  # noqa: E402
from suite import TABLES, prepared  # noqa: E402


def collect(tables: list[str], seeds: list[int], folds: int, out: Path) -> None:
    from generators import registry
    from tasks.config import GateConfig
    from tasks.select import (
        FAMILIES,
        candidate_rows,
        estimated_width,
        fold_count,
        fold_frames,
        judge,
        plan,
        planning_rows,
    )
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
            width = estimated_width(spec)
            # auto's own plan and fold count (tasks.select): what the flow would score
            chosen_from, _ = plan(
                FAMILIES, seed=seed, fit_rows=planning_rows(len(train)), width=width, spec=spec
            )
            k = fold_count(len(train), chosen_from, folds=folds, width=width, spec=spec)
            if k == 1:
                print(f"{name} s{seed}: auto scores on one split here ({len(train)} rows)")
                continue
            cuts = fold_frames(train, spec, k, seed)
            for candidate in chosen_from:
                if (name, seed, candidate.generator) in done:
                    continue
                scores = []
                for fit, validation in cuts:
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


def pooled_runs(out: Path) -> dict[tuple[str, int], list[dict]]:
    """Per table and seed, each candidate's scores over its folds as ``auto`` pools them
    (``tasks.select.pooled``: the means, the privacy constraint on the means)."""
    from tasks.select import CandidateScore, pooled

    runs: dict[tuple[str, int], list[dict]] = {}
    for line in out.read_text().splitlines():
        r = json.loads(line)
        folds = [CandidateScore(**s) for s in r["folds"]]
        runs.setdefault((r["table"], r["seed"]), []).append(pooled(folds).model_dump(mode="json"))
    return runs


def rules(outs: list[Path], single: Path, holdout: list[Path], tables: list[str]) -> None:
    """``auto``'s rule (``auto_rules.best_quality``) on one validation split (``single``: an
    ``auto_rules.py`` candidates file) against the same rule on the pooled fold scores where
    ``auto`` now scores on folds; the other runs are the same under both."""
    from auto_rules import evaluate

    from tasks.select import FOLD_ROWS

    split_runs = [json.loads(line) for line in single.read_text().splitlines() if line.strip()]
    split_runs = [r for r in split_runs if r["table"] in tables]
    folded: dict[tuple[str, int], list[dict]] = {}
    for out in outs:
        folded.update(pooled_runs(out))
    fold_runs = [
        {**r, "candidates": folded.get((r["table"], r["seed"]), r["candidates"])}
        for r in split_runs
    ]
    on_folds = sorted({t for t, _ in folded if t in tables})
    print(f"scored on folds: {', '.join(on_folds)} ({sum(t in tables for t, _ in folded)} runs)")
    index = holdout_index(holdout)
    evaluate(split_runs, {"one validation split (before)": best_quality}, index)
    evaluate(fold_runs, {f"folds below {FOLD_ROWS} training rows (now)": best_quality}, index)
    changed = [
        f"{r['table']} s{r['seed']} {best_quality(r['candidates'])} -> "
        f"{best_quality(f['candidates'])}"
        for r, f in zip(split_runs, fold_runs, strict=True)
        if best_quality(r["candidates"]) != best_quality(f["candidates"])
    ]
    print("choices changed: " + "; ".join(changed))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["collect", "rules"])
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--folds", type=int, default=5, help="collect: auto_folds")
    ap.add_argument("--out", nargs="+", required=True, help="the folds' scores (JSON lines)")
    ap.add_argument("--single", help="rules: auto_rules.py candidates (one validation split)")
    ap.add_argument("--holdout", nargs="*", default=[], help="quality.py results files")
    args = ap.parse_args()
    if args.mode == "collect":
        collect(args.tables, args.seeds, args.folds, Path(args.out[0]))
    else:
        if not args.single:
            ap.error("rules needs --single")
        rules(
            [Path(p) for p in args.out],
            Path(args.single),
            [Path(p) for p in args.holdout],
            args.tables,
        )


if __name__ == "__main__":
    main()
