"""How `auto` should choose: every candidate's validation scores on the quality suite, and the
holdout result each choice rule would have led to.

    .venv/bin/python benchmarks/auto_rules.py collect [--tables ...] [--seeds 0 1 2] --out V
    .venv/bin/python benchmarks/auto_rules.py rescore --family cart --source V --out V2
    .venv/bin/python benchmarks/auto_rules.py rules --out V --holdout R1 [R2 ...]

``collect``: per table and seed, the split of ``benchmarks/quality.py`` (stratified 70/30, the
same seed) and then exactly what ``auto`` does on the 70 % (``tasks.select.select_family``:
the validation split, the candidates the time budget admits, their validation scores and
privacy verdicts). One JSON line per table and seed with every candidate's scores.

``rules``: replays the choice rules on those scores (no refitting) and looks up, for each
choice, the family's holdout result for that table and seed in ``benchmarks/quality.py``
results files (the family trained on the whole 70 % and scored on the 30 %, as the final run
of ``auto`` is). A choice without a holdout result is listed so it can be run with
``quality.py --families F --tables T --seeds S``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from suite import TABLES, prepared  # noqa: E402


def collect(tables: list[str], seeds: list[int], out: Path) -> None:
    from tasks.select import select_family, validation_fraction
    from tasks.split import split_frame

    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["table"], r["seed"]))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    for name in tables:
        for seed in seeds:
            if (name, seed) in done:
                continue
            spec, df = prepared(name)
            train, _, _ = split_frame(df, spec, 0.3, seed)
            validation = split_frame(train, spec, validation_fraction(len(train)), seed)[1]
            start = time.perf_counter()
            selection = select_family(train, spec, seed=seed)
            line = {
                "table": name,
                "seed": seed,
                "seconds": round(time.perf_counter() - start, 1),
                "validation_rows": len(validation),
                **selection.model_dump(mode="json"),
            }
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")
            print(
                f"{name} s{seed}: chose {selection.chosen.generator}; "
                + ", ".join(
                    f"{c.candidate.generator} {c.quality:.3f}{'' if c.private else ' (not private)'}"
                    for c in selection.candidates
                ),
                flush=True,
            )


def rescore(family: str, source: Path, out: Path) -> None:
    """``source``'s runs with ``family``'s candidates fitted and scored again by the current
    code (the same split, settings and seed), every other candidate's scores kept: when one
    family changes, the choice can be replayed without refitting the others."""
    from generators import registry
    from tasks.config import GateConfig
    from tasks.select import Candidate, candidate_rows, judge, validation_fraction
    from tasks.split import split_frame

    gate = GateConfig().model_dump()
    runs = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    for run in runs:
        spec, df = prepared(run["table"])
        train, _, _ = split_frame(df, spec, 0.3, run["seed"])
        fit, validation, _ = split_frame(train, spec, validation_fraction(len(train)), run["seed"])
        for k, scored in enumerate(run["candidates"]):
            candidate = Candidate(**scored["candidate"])
            if candidate.generator != family:
                continue
            model = registry.create(candidate.generator, candidate.settings)
            report = model.fit(fit, spec, seed=candidate.seed)
            synth = candidate_rows(model, fit, spec, candidate.seed)
            fresh = judge(candidate, report.seconds, fit, validation, synth, spec, gate)
            run["candidates"][k] = fresh.model_dump(mode="json")
            print(
                f"{run['table']} s{run['seed']} {family}: quality {scored['quality']:.3f} -> "
                f"{fresh.quality:.3f}{'' if fresh.private else ' (not private)'}",
                flush=True,
            )
        with out.open("a") as f:
            f.write(json.dumps(run) + "\n")


# ---- rules: (candidates of one run) -> chosen family ----

Rule = Callable[[list[dict]], str]


def _passing(cands: list[dict]) -> list[dict]:
    return [c for c in cands if c["private"]]


def _fallback(cands: list[dict]) -> str:
    return min(cands, key=lambda c: c["scores"].get("membership_auc") or 1.0)["candidate"][
        "generator"
    ]


def best_quality(cands: list[dict]) -> str:
    """The shipped rule: the private candidate of highest validation quality."""
    passing = _passing(cands)
    if not passing:
        return _fallback(cands)
    return max(passing, key=lambda c: c["quality"])["candidate"]["generator"]


def within_noise_with_margin(order: tuple[str, ...]) -> Rule:
    """As ``within_noise``, but among the near candidates those within the plain privacy limits
    (DCR share <= 0.55, membership AUC <= 0.60, no chance allowance) come first."""

    def rule(cands: list[dict]) -> str:
        passing = _passing(cands)
        if not passing:
            return _fallback(cands)
        se = 0.5 / np.sqrt(cands[0].get("validation_rows") or 50)
        top = max(c["quality"] for c in passing)
        rank = {f: i for i, f in enumerate(order)}
        near = [c for c in passing if c["quality"] >= top - se]
        plain = [
            c
            for c in near
            if (c["scores"].get("dcr_share") or 1) <= 0.55
            and (c["scores"].get("membership_auc") or 1) <= 0.60
        ]
        return min(plain or near, key=lambda c: rank.get(c["candidate"]["generator"], 99))[
            "candidate"
        ]["generator"]

    return rule


def within_noise(order: tuple[str, ...], key: str = "quality") -> Rule:
    """The first family in ``order`` whose validation ``key`` is within one standard error
    (0.5 / sqrt(validation rows)) of the best private candidate's."""

    def rule(cands: list[dict]) -> str:
        passing = _passing(cands)
        if not passing:
            return _fallback(cands)
        rows = cands[0].get("validation_rows") or 50
        se = 0.5 / np.sqrt(rows)
        top = max(c[key] if c[key] is not None else c["quality"] for c in passing)
        rank = {f: i for i, f in enumerate(order)}
        near = [c for c in passing if (c[key] if c[key] is not None else c["quality"]) >= top - se]
        return min(near, key=lambda c: rank.get(c["candidate"]["generator"], 99))["candidate"][
            "generator"
        ]

    return rule


def holdout_index(paths: list[Path]) -> dict[tuple[str, str, int], dict]:
    index = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            r = json.loads(line)
            family = r["chosen"] if r["family"] == "auto" else r["family"].split(":")[0]
            # a family's own run beats auto's run of that family (auto may add copies' replacement)
            key = (r["table"], family, r["seed"])
            if r["family"] == "auto" and key in index:
                continue
            index[key] = r
    return index


def evaluate(runs: list[dict], rules: dict[str, Rule], index: dict) -> None:
    for label, rule in rules.items():
        per_table: dict[str, list[float]] = {}
        det: dict[str, list[float]] = {}
        dcr: dict[str, list[float]] = {}
        mia: dict[str, list[float]] = {}
        missing, picks, low, rejected, failing, released = [], {}, 0, 0, [], 0
        for run in runs:
            cands = run["candidates"]
            family = rule(cands)
            picks[family] = picks.get(family, 0) + 1
            result = index.get((run["table"], family, run["seed"]))
            if result is None:
                missing.append(f"{run['table']} s{run['seed']} {family}")
                continue
            per_table.setdefault(run["table"], []).append(result["utility"])
            det.setdefault(run["table"], []).append(result["detection_auc"])
            dcr.setdefault(run["table"], []).append(result["dcr_share"])
            mia.setdefault(run["table"], []).append(result["membership_auc"])
            low += result["utility"] < 0.90
            # the release gate's privacy checks on the holdout (evaluation.gate); where the
            # results file lacks the DCR share's chance allowance, its floor for evenly spread
            # nearest rows, 1 / sqrt(synthetic rows) (evaluation.privacy.share_noise)
            noise = result.get("dcr_share_noise") or 1 / np.sqrt(0.7 * result["rows"])
            leaky = result["dcr_share"] > max(0.55, 0.5 + noise) or result["membership_auc"] > 0.60
            released += not leaky and result["utility"] >= 0.85  # the gate's utility floor too
            if leaky:
                rejected += 1
                failing.append(
                    f"{run['table']} s{run['seed']} {family} (DCR {result['dcr_share']:.3f} / "
                    f"{max(0.55, 0.5 + noise):.3f}, MIA {result['membership_auc']:.3f})"
                )
        means = {t: float(np.mean(v)) for t, v in per_table.items()}
        dets = {t: float(np.mean(v)) for t, v in det.items()}
        worst = min(means, key=means.get) if means else None
        print(
            f"{label}: tables {len(means)}, median {np.median(list(means.values())):.3f}, "
            f"worst {means.get(worst, float('nan')):.3f} ({worst}), runs < 0.90: {low}, "
            f"median detection {np.median(list(dets.values())):.3f}, "
            f"worst table DCR share {max(np.mean(v) for v in dcr.values()):.3f}, "
            f"MIA {max(np.mean(v) for v in mia.values()):.3f}, "
            f"runs failing the gate's privacy checks {rejected}, runs released "
            f"(privacy and TSTR/TRTR >= 0.85) {released} of {len(runs) - len(missing)}, "
            f"picks {picks}"
        )
        below = sorted((v, t) for t, v in means.items() if v < 0.9)
        if below:
            print("   tables < 0.90: " + ", ".join(f"{t} {v:.3f}" for v, t in below))
        if failing:
            print("   failing the gate's privacy checks: " + "; ".join(failing))
        if missing:
            print("   no holdout result: " + "; ".join(missing))


ORDER = ("forestflow", "cart", "gaussian_copula", "tabddpm", "tvae", "ctgan")  # suite record
CHEAPEST = ("cart", "gaussian_copula", "forestflow", "tvae", "tabddpm", "ctgan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["collect", "rescore", "rules"])
    ap.add_argument("--tables", nargs="+", choices=list(TABLES), default=list(TABLES))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--out", required=True, help="the candidates' scores (JSON lines)")
    ap.add_argument("--holdout", nargs="*", default=[], help="quality.py results files")
    ap.add_argument("--family", help="rescore: the family whose candidates are fitted again")
    ap.add_argument("--source", help="rescore: the candidates' scores to start from")
    args = ap.parse_args()
    out = Path(args.out)
    if args.mode == "collect":
        collect(args.tables, args.seeds, out)
        return
    if args.mode == "rescore":
        if not args.family or not args.source:
            ap.error("rescore needs --family and --source")
        rescore(args.family, Path(args.source), out)
        return
    runs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    runs = [r for r in runs if r["table"] in args.tables and r["seed"] in args.seeds]
    for run in runs:  # the validation rows, for the noise of a score
        for c in run["candidates"]:
            c["validation_rows"] = run.get("validation_rows")
    index = holdout_index([Path(p) for p in args.holdout])
    evaluate(
        runs,
        {
            "best quality (shipped)": best_quality,
            "within noise of the best, suite order": within_noise(ORDER),
            "within noise, plain privacy limits first": within_noise_with_margin(ORDER),
            "within noise, tabddpm second": within_noise(
                ("forestflow", "tabddpm", "cart", "gaussian_copula", "tvae", "ctgan")
            ),
            "within noise, cheapest first (tried 2026-12-04)": within_noise(CHEAPEST),
        },
        index,
    )


if __name__ == "__main__":
    main()
