"""Whole patient records across tables: read -> check -> split by patient -> fit -> sample ->
score -> publish, one run folder, manifest last.

The input is a folder (local or ``s3://``) with one CSV or Parquet file per table; the schema
(``--schema``) names keys, dictionaries and date rules, or is inferred
(``generators.records.infer_schema``) and written to the run folder as ``schema.yaml`` for the
user to check and pass back. Nothing is written when the tables break their schema. The
patients (root records) are split 70/30 with all of a patient's rows on one side: the model
learns the 70 %, the 30 % scores the record-level prediction (``utility``); the cross-table
scores compare the synthetic records with the training ones.
"""

from __future__ import annotations

import io
import time
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from pydantic import BaseModel, ConfigDict, Field

from evaluation.records import record_privacy, record_utility, score_records
from evaluation.records_report import records_html
from generators.records import RecordSchema, RecordsModel, infer_schema, parse_dates, records_of
from tasks import storage
from tasks.common import FLOW_OPTIONS, TASK_OPTIONS, new_run_id
from tasks.records import check_records

HOLDOUT_FRACTION = 0.3


class RecordUtility(BaseModel):
    """A record-level prediction: ``target`` on ``table`` from the record (and its ancestors
    and child counts), ``leaks`` kept out of the predictors."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: str
    target: str
    leaks: list[str] = []


class RecordsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    data: str = Field(description="folder with one CSV or Parquet file per table (or s3://)")
    schema_url: str | None = Field(None, description="schema YAML; inferred when absent")
    dataset: str | None = None
    output: str = "./synthcare-data"
    seed: int = 0
    roots: int | None = Field(None, ge=1, description="synthetic patients (default: as many)")
    utility: RecordUtility | None = None


class RecordsRefused(ValueError):
    """The tables break their schema; nothing was written."""


@task(name="read-tables", **TASK_OPTIONS)
def read_tables(url: str) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every CSV or Parquet file of the folder, by table name (the file's stem), and its type."""
    tables, kinds = {}, {}
    folder = PurePosixPath(url.split("://", 1)[-1].rstrip("/")).name
    for path in storage.list_files(url):
        name, suffix = PurePosixPath(path).stem, PurePosixPath(path).suffix.lower()
        if suffix not in (".csv", ".parquet") or PurePosixPath(path).parent.name != folder:
            continue  # the folder's own tables only: not its notes, not a subfolder's files
        data = storage.read_bytes(path)
        tables[name] = read_csv(data) if suffix == ".csv" else pd.read_parquet(io.BytesIO(data))
        kinds[name] = suffix
    if not tables:
        raise RecordsRefused(f"{url}: no CSV or Parquet files (one a table)")
    return tables, kinds


def read_csv(data: bytes) -> pd.DataFrame:
    """A table as text first, then numbers where every value is one and none is a code with a
    leading zero (``0090`` stays a code, as in its dictionary)."""
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, na_values=[""])
    for c in df.columns:
        present = df[c].dropna()
        number = pd.to_numeric(present, errors="coerce")
        coded = present.str.match(r"^0\d").any() or present.str.match(r"^[+-]?\d+\.$").any()
        if len(present) and number.notna().all() and not coded:
            df[c] = pd.to_numeric(df[c])
    return df


@flow(name="generate-records", **FLOW_OPTIONS)
def generate_records(config: RecordsConfig) -> str:
    log = get_run_logger()
    start = time.perf_counter()
    tables, kinds = read_tables(config.data)
    if config.schema_url:
        schema = RecordSchema.from_yaml(storage.read_bytes(config.schema_url).decode())
        inferred = False
    else:
        schema, inferred = infer_schema(tables), True
    missing = [n for n in schema.tables if n not in tables]
    if missing:
        raise RecordsRefused(f"{config.data}: the schema names tables with no file: {missing}")
    tables = parse_dates({n: tables[n] for n in schema.tables})
    problems = check_records(tables, schema)
    if problems:
        raise RecordsRefused(
            f"{config.data}: the tables break their schema:\n  " + "\n  ".join(problems)
        )
    dataset = config.dataset or PurePosixPath(config.data.rstrip("/")).name
    run_url = storage.join(config.output, dataset, "runs", new_run_id())
    train, holdout = split_patients(tables, schema, config.seed)
    targets = {config.utility.table: config.utility.target} if config.utility else {}
    model = RecordsModel(targets=targets)
    model.fit(train, schema, seed=config.seed)
    synth = model.sample(seed=config.seed, roots=config.roots)
    scores: dict[str, Any] = score_records(train, synth, schema)
    scores.update(record_privacy(train, holdout, synth, schema, seed=config.seed))
    if config.utility is not None:
        scores["utility"] = record_utility(
            train,
            holdout,
            synth,
            schema,
            table=config.utility.table,
            target=config.utility.target,
            leaks=config.utility.leaks,
            seed=config.seed,
        )
    files = publish_records(run_url, synth, kinds, schema)
    storage.write_once(storage.join(run_url, "schema.yaml"), schema.to_yaml().encode())
    storage.write_json(storage.join(run_url, "evaluation", "records.json"), scores)
    page = records_html(scores, train, synth, schema, f"synthcare records: {dataset}", config.seed)
    storage.write_once(storage.join(run_url, "evaluation", "report.html"), page.encode())
    manifest = {
        "run_id": PurePosixPath(run_url).name,
        "config": config.model_dump(mode="json"),
        "schema_inferred": inferred,
        "tables": {n: len(df) for n, df in tables.items()},
        "training_patients": len(train[schema.record_root()]),
        "holdout_patients": len(holdout[schema.record_root()]),
        "files": files,
        "metrics": scores,
        "seconds": round(time.perf_counter() - start, 1),
    }
    storage.write_json(storage.join(run_url, "manifest.json"), manifest)  # last
    log.info("records run %s: %s", run_url, {k: scores[k] for k in scores if k.endswith("_min")})
    return run_url


def split_patients(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, seed: int
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """Whole records of 70 % of the patients (the record root's rows) and of the rest."""
    root = schema.record_root()
    keys = tables[root][schema.tables[root].primary_key].to_numpy()
    rng = np.random.default_rng(seed)
    held = set(rng.choice(keys, int(round(len(keys) * HOLDOUT_FRACTION)), replace=False))
    others = [n for n in schema.order() if schema.primary_parent(n) is None and n != root]
    train = records_of(tables, schema, set(keys) - held)
    holdout = records_of(tables, schema, held)
    for name in others:  # other root tables (a clinician) are shared, not split
        train[name] = holdout[name] = tables[name]
    return train, holdout


@task(name="publish-records", **TASK_OPTIONS)
def publish_records(
    run_url: str, synth: dict[str, pd.DataFrame], kinds: dict[str, str], schema: RecordSchema
) -> list[str]:
    """One folder a table under ``synthetic/``, in the type its input came in."""
    files = []
    for name in schema.synthesised():
        df = synth[name]
        if kinds.get(name) == ".parquet":
            url = storage.write_parquet(
                storage.join(run_url, "synthetic", name, "part-0.parquet"), df
            )
        else:
            text = df.to_csv(index=False, date_format="%Y-%m-%d %H:%M:%S")
            url = storage.write_once(
                storage.join(run_url, "synthetic", name, "part-0.csv"), text.encode()
            )
        files.append(url)
    return files
