"""Whole synthetic records on the MIMIC-III demo: cross-table scores and record-level utility.

    .venv/bin/python benchmarks/records.py [--folds 5] [--seed 0]

Five folds split by patient (all of a patient's rows stay on one side). Per fold the records
model (``generators.records.RecordsModel``, cart per table) learns the training patients' whole
records from ``flows/data/mimic-iii-demo`` with its shipped ``schema.yaml``, samples as many
patients, and is scored (``evaluation.records``): referential integrity, date containment,
child-count KS per parent-child pair, copied patient records, and in-hospital death
(ADMISSIONS.hospital_expire_flag) predicted from the admission, its patient and the counts of
its ICU stays, diagnoses, procedures and prescriptions: TRTR (real training records) and TSTR
(synthetic records) AUC on the held-out patients. Leak columns (death times, discharge to death,
the patient's death dates and flag) are kept out of the predictors.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluation.records import record_privacy, record_utility, score_records  # noqa: E402
from flows.demo import MIMIC_LEAKS as LEAKS  # noqa: E402
from generators.records import RecordSchema, RecordsModel, parse_dates, records_of  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "flows" / "data" / "mimic-iii-demo"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    schema = RecordSchema.from_yaml((DEMO / "schema.yaml").read_text())
    tables = parse_dates(
        {n: pd.read_csv(DEMO / f"{n}.csv", dtype={"icd9_code": str}) for n in schema.tables}
    )
    patients = tables["PATIENTS"]["subject_id"].to_numpy()
    rng = np.random.default_rng(args.seed)
    fold_of = dict(zip(patients, rng.permutation(len(patients)) % args.folds, strict=True))
    print(f"machine: {platform.machine()}; {time.strftime('%Y-%m-%d')}")
    rows = []
    for fold in range(args.folds):
        test_ids = {p for p in patients if fold_of[p] == fold}
        train = records_of(tables, schema, set(patients) - test_ids)
        test = records_of(tables, schema, test_ids)
        start = time.perf_counter()
        model = RecordsModel(targets={"ADMISSIONS": "hospital_expire_flag"})
        model.fit(train, schema, seed=args.seed + fold)
        synth = model.sample(seed=args.seed + fold)
        seconds = time.perf_counter() - start
        scores = score_records(train, synth, schema)
        scores.update(record_privacy(train, test, synth, schema, seed=args.seed))
        utility = record_utility(
            train,
            test,
            synth,
            schema,
            table="ADMISSIONS",
            target="hospital_expire_flag",
            leaks=LEAKS,
            seed=args.seed,
        )
        row = {
            "fold": fold,
            "seconds": round(seconds, 1),
            **utility,
            **{k: v for k, v in scores.items() if not isinstance(v, dict)},
            "child_count_ks": scores["child_count_ks"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    df = pd.DataFrame(rows)
    print(
        f"mean over {args.folds} folds: TRTR AUC {df.trtr_auc.mean():.3f}, "
        f"TSTR AUC {df.tstr_auc.mean():.3f} ({df.tstr_auc.mean() / df.trtr_auc.mean():.2f} x), "
        f"integrity {df.referential_integrity_min.min():.3f}, "
        f"containment {df.date_containment_min.min():.3f}, "
        f"worst child-count KS {df.child_count_ks_max.max():.3f}, "
        f"copies {int(df.record_copies.sum())}, "
        f"patient DCR share {df.patient_dcr_share.mean():.3f} (worst {df.patient_dcr_share.max():.3f}; "
        f"real unseen patients up to {df.patient_dcr_share_real_p95.mean():.3f}), "
        f"patient MIA AUC {df.patient_membership_auc.mean():.3f} "
        f"(worst {df.patient_membership_auc.max():.3f}), fit+sample {df.seconds.mean():.0f} s a fold"
    )


if __name__ == "__main__":
    main()
