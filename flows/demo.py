"""The bundled demo: the Mayo Clinic free light chain study (``flchain``, 7,874 patients).

It ships inside scikit-survival (the ``demo`` extra, GPL-3, never imported by the core). The CSV is
written as a hospital would export it; the spec keeps follow-up time and cause of death out of the
utility models, since both give away the outcome (``death``); follow-up time and death together
are the survival outcome (concordance index). Age, sex and sampling year are what an attacker might
know of a participant; the MGUS diagnosis and the cause of death are what they must not learn.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from tasks.config import RunConfig

COLUMNS = [
    "age",
    "sex",
    "sample.yr",
    "kappa",
    "lambda",
    "flc.grp",
    "creatinine",
    "mgus",
    "futime",
    "death",
    "chapter",
]
NON_PREDICTORS = ["futime", "chapter"]
# What an attacker could know about a participant, and what they must not learn.
QUASI_IDENTIFIERS = ["age", "sex", "sample.yr"]
SENSITIVE = ["mgus", "chapter"]


def flchain_frame() -> pd.DataFrame:
    try:
        from sksurv.datasets import load_flchain
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the demo data needs the 'demo' extra: pip install 'synthcare[demo]'"
        ) from exc
    features, outcome = load_flchain()
    df = features.copy()
    for col in ("age", "flc.grp", "sample.yr"):
        df[col] = df[col].astype(float).astype(int)
    for col in ("sex", "mgus", "chapter"):
        df[col] = df[col].astype(object).where(df[col].notna(), None)
    df["futime"] = outcome["futime"].astype(int)
    df["death"] = outcome["death"].astype(int)
    return df[COLUMNS]


def _write_once(folder: str | Path, name: str, frame: Callable[[], pd.DataFrame]) -> Path:
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        frame().to_csv(path, index=False)
    return path


def write_flchain_csv(folder: str | Path) -> Path:
    return _write_once(folder, "flchain.csv", flchain_frame)


def demo_config(data: str | Path, output: str, **settings: Any) -> RunConfig:
    """The demo's run: predict death (and survival), follow-up time and cause of death kept out of
    the models, privacy roles declared."""
    return RunConfig(
        data=str(data),
        target="death",
        dataset="flchain",
        non_predictors=NON_PREDICTORS,
        survival_time="futime",
        quasi_identifiers=QUASI_IDENTIFIERS,
        sensitive=SENSITIVE,
        output=output,
        **settings,
    )


# -- patient histories: PBC2 --------------------------------------------------------------------
# 300: with the follow-up rule declared and persistent draws (dgan's defaults), five splits at
# 300 epochs gave discriminative 0.142 and TSTR 0.94 x TRTR; at 600 synthetic patients came
# nearer to training than to holdout ones (this split: nearest-history share 0.562, over the
# gate's 0.55; at 300 it is 0.544). benchmarks/README.md
PBC2_EPOCHS = 300


def write_pbc2_csv(folder: str | Path) -> Path:
    """PBC2 as a hospital would export visits: one row per visit, static columns repeated."""
    from flows.timeseries_data import pbc2_frame

    return _write_once(folder, "pbc2.csv", pbc2_frame)


# 312 patients: a 30 % holdout (94 patients) measures privacy; at 20 % (63) the nearest-history
# share of real unseen patients themselves ranged 0.51-0.56 over three splits (benchmarks/README.md)
PBC2_HOLDOUT = 0.3


# every PBC2 visit lies within the patient's follow-up (no visit after death, transplant or
# censoring); declared, dgan generates the follow-up as the time left after the last visit
PBC2_FOLLOW_UP = {"less_equal": ["year", "years"]}


def pbc2_demo_config(data: str | Path, output: str, **settings: Any) -> RunConfig:
    """The time-series demo's run: patient ``id``, visit time ``year``; predict death
    (``status2``), with follow-up length and its status kept out of the utility models; no
    visit after follow-up ends (``PBC2_FOLLOW_UP``, beside any rules the caller adds)."""
    from flows.timeseries_data import PBC2_NON_PREDICTORS

    if settings.get("epochs") is None:
        settings["epochs"] = PBC2_EPOCHS
    extra = settings.pop("constraints", None) or []
    settings["constraints"] = [PBC2_FOLLOW_UP, *(r for r in extra if r != PBC2_FOLLOW_UP)]
    return RunConfig(
        data=str(data),
        dataset="pbc2",
        id_columns=["id"],
        time_column="year",
        target="status2",
        non_predictors=PBC2_NON_PREDICTORS,
        holdout_fraction=PBC2_HOLDOUT,
        output=output,
        **settings,
    )


# The MIMIC-III demo (ODbL; flows/data/mimic-iii-demo/README.md) as whole records.
MIMIC_DEMO = Path(__file__).resolve().parent / "data" / "mimic-iii-demo"
# In-hospital death from the admission, its patient and its child counts; these give it away.
MIMIC_LEAKS = [
    "deathtime",
    "discharge_location",
    "PATIENTS.dod",
    "PATIENTS.dod_hosp",
    "PATIENTS.dod_ssn",
    "PATIENTS.expire_flag",
]


def mimic_utility() -> Any:
    from flows.records import RecordUtility

    return RecordUtility(table="ADMISSIONS", target="hospital_expire_flag", leaks=MIMIC_LEAKS)
