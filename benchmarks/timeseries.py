"""DGAN against a simple baseline on PBC2 and ECG200: discriminative score, outcome TSTR / TRTR,
predictive score, autocorrelation gap, nearest-sequence share, and DGAN's time per epoch.

    .venv/bin/python benchmarks/timeseries.py [--epochs 400] [--data pbc2 ecg200]
        [--seeds 0 1 2 | --folds 5] [--set NAME=VALUE ...] [--constraint A<=B ...]
        [--no-baseline] [--fit-seed-offset N]

``--set`` passes a ``dgan`` setting (a JSON value, as ``synthcare generate --set``); ``--seeds``
repeats the split, the fit and the sampling for each seed and adds the mean over them;
``--folds K`` splits the patients into K stratified folds instead, each the holdout once (fit and
sampling seeds = fold number), so every patient is scored as unseen exactly once;
``--fit-seed-offset N`` adds N to the fit and sampling seeds (not to the split), so a setting's
figures can be repeated on the same holdouts with other networks;
``--constraint`` adds a rule to the data set's spec, as ``synthcare generate --constraint``.

Patients are split 80 / 20 (stratified by outcome). The baseline keeps what is easy: each
synthetic patient takes the static attributes and the visit times of a random real training
patient and draws every measurement from a per-visit-index Gaussian (categories and missingness
from per-index frequencies), so any gain of DGAN's is in the dependence over time and on the
patient.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import pandas as pd


def baseline(train: pd.DataFrame, spec, n: int, seed: int) -> pd.DataFrame:  # noqa: ANN001
    roles = spec.sequence
    rng = np.random.default_rng(seed)
    train = train.sort_values([roles.id, roles.time], kind="stable")
    index = train.groupby(roles.id, sort=False).cumcount()
    patients = train[roles.id].unique()
    parts = []
    for k, pid in enumerate(rng.choice(patients, n)):
        real = train[train[roles.id] == pid]
        out = real[[roles.id, roles.time, *roles.static]].copy()
        out[roles.id] = k
        for col in spec.temporal:
            values = []
            for step in range(len(real)):
                pool = train.loc[index == step, col]
                if pool.isna().mean() > rng.random():
                    values.append(np.nan)
                elif spec.column(col).is_discrete:
                    values.append(
                        pool.dropna().sample(1, random_state=int(rng.integers(1 << 30))).iloc[0]
                    )
                else:
                    present = pool.dropna().astype(float)
                    values.append(
                        rng.normal(present.mean(), present.std() if len(present) > 1 else 0.0)
                    )
            out[col] = values
        parts.append(out)
    return pd.concat(parts, ignore_index=True)[train.columns]


def roles_of(spec):  # noqa: ANN001, ANN201
    from evaluation.timeseries import Roles

    return Roles(
        id=spec.sequence.id,
        time=spec.sequence.time,
        static=spec.sequence.static,
        temporal=spec.temporal,
        kinds=spec.kinds(),
        target=spec.target,
        non_predictors=spec.non_predictors,
    )


def fold_patients(df: pd.DataFrame, spec, folds: int):  # noqa: ANN001, ANN201
    """(fold, train, holdout) for K stratified folds of the patients (shuffled, seed 0)."""
    from sklearn.model_selection import StratifiedKFold

    first = df.groupby(spec.sequence.id, sort=False).head(1)
    ids = first[spec.sequence.id].to_numpy()
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    for fold, (_, test) in enumerate(cv.split(ids, first[spec.target].to_numpy())):
        is_test = df[spec.sequence.id].isin(set(ids[test]))
        yield fold, df[~is_test].reset_index(drop=True), df[is_test].reset_index(drop=True)


def split_patients(df: pd.DataFrame, spec, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:  # noqa: ANN001
    from sklearn.model_selection import train_test_split

    first = df.groupby(spec.sequence.id, sort=False).head(1)
    train_ids, test_ids = train_test_split(
        first[spec.sequence.id], test_size=0.2, random_state=seed, stratify=first[spec.target]
    )
    is_train = df[spec.sequence.id].isin(set(train_ids))
    return df[is_train].reset_index(drop=True), df[~is_train].reset_index(drop=True)


def scores(train, holdout, synth, spec) -> dict[str, float]:  # noqa: ANN001
    from evaluation import timeseries as ts

    roles = roles_of(spec)
    utility = ts.outcome_tstr(train, holdout, synth, roles)
    nearest = ts.nearest_sequence(train, holdout, synth, roles)
    return {
        "discriminative": ts.discriminative_score(train, synth, roles)["score"],
        "tstr_auc": utility["tstr_auc"],
        "trtr_auc": utility["trtr_auc"],
        "predictive_ratio": ts.predictive_score(train, holdout, synth, roles)["ratio"],
        "acf_gap": ts.autocorrelation(train, synth, roles)["mean_abs_difference"],
        "nearest_share": nearest["share"],
        "copies": nearest["copies"],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=400)
    ap.add_argument("--data", nargs="+", default=["pbc2", "ecg200"])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--folds", type=int, default=0, help="K-fold holdouts instead of --seeds")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--constraint", action="append", default=[], metavar="A<=B")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--fit-seed-offset", type=int, default=0, metavar="N")
    args = ap.parse_args()
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}

    from flows import timeseries_data as data
    from generators import registry
    from generators.schema import DatasetSpec

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; date: {time.strftime('%Y-%m-%d')}; "
        f"dgan {args.epochs} epochs; settings {settings or 'default'}; "
        f"{f'{args.folds} folds' if args.folds else f'seeds {args.seeds}'}; "
        f"constraints {args.constraint or 'none'}; fit seed offset {args.fit_seed_offset}"
    )
    print(
        "| data | seed | model | s/epoch | discriminative | TSTR AUC (TRTR) | TSTR / TRTR | "
        "predictive MAE ratio | ACF gap | nearest share | copies |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.data:
        frame = getattr(data, f"{name}_frame")()
        spec = getattr(data, f"{name}_spec")(frame)
        if args.constraint:
            rules = [{"less_equal": item.split("<=")} for item in args.constraint]
            spec = DatasetSpec.model_validate({**spec.model_dump(), "constraints": rules})
        done: dict[str, list[dict[str, float]]] = {}
        splits = (
            fold_patients(frame, spec, args.folds)
            if args.folds
            else ((seed, *split_patients(frame, spec, seed=seed)) for seed in args.seeds)
        )
        for seed, train, holdout in splits:
            patients = train[spec.sequence.id].nunique()
            model = registry.create("dgan", {"epochs": args.epochs, **settings})
            fit_seed = seed + args.fit_seed_offset
            report = model.fit(train, spec, seed=fit_seed)
            runs = {"dgan": (model.sample(patients, seed=fit_seed + 1), report.seconds_per_epoch)}
            if not args.no_baseline:
                runs["baseline"] = (baseline(train, spec, patients, seed=seed + 1), None)
            for label, (synth, per_epoch) in runs.items():
                s = {**scores(train, holdout, synth, spec), "s_per_epoch": per_epoch or np.nan}
                done.setdefault(label, []).append(s)
                print(_row(name, str(seed), label, s), flush=True)
        if args.folds or len(args.seeds) > 1:
            for label, rows in done.items():
                mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
                print(_row(name, "mean", label, mean), flush=True)


def _row(name: str, seed: str, label: str, s: dict[str, float]) -> str:
    per_epoch = "" if np.isnan(s["s_per_epoch"]) else f"{s['s_per_epoch']:.3f}"
    copies = s["copies"] if isinstance(s["copies"], int) else f"{s['copies']:.1f}"
    return (
        f"| {name} | {seed} | {label} | {per_epoch} | {s['discriminative']:.3f} | "
        f"{s['tstr_auc']:.3f} ({s['trtr_auc']:.3f}) | {s['tstr_auc'] / s['trtr_auc']:.2f} | "
        f"{s['predictive_ratio']:.2f} | {s['acf_gap']:.3f} | {s['nearest_share']:.3f} | {copies} |"
    )


if __name__ == "__main__":
    main()
