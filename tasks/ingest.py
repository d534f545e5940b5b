"""Step 1: read the input, settle its spec, validate it. Nothing is written unless it is valid."""

from __future__ import annotations

import hashlib
from typing import Any

from prefect import get_run_logger, task
from pydantic import BaseModel

from generators.conditions import ConditionError, check_against_spec, rows_meeting
from generators.schema import DatasetSpec, SpecError, infer_spec
from tasks import storage
from tasks.common import MIN_CONDITIONED_HOLDOUT, TASK_OPTIONS, run_path
from tasks.config import RunConfig
from tasks.validation import parse_table, read_input, read_spec, validate


class Ingested(BaseModel):
    run_url: str
    spec: DatasetSpec
    spec_inferred: bool
    input_sha256: str
    rows: int
    file_dtypes: dict[str, dict[str, Any]]  # the output is cast back to these


@task(name="ingest", **TASK_OPTIONS)
def ingest(config: RunConfig, run_url: str) -> Ingested:
    logger = get_run_logger()
    data = read_input(config.data)
    given = read_spec(config.spec, config.target) if config.spec else None
    if config.private and given is None:
        raise SpecError(
            f"{config.data}: differential privacy needs a spec (--spec) declaring every column's "
            "bounds and values; inferring them from the data would leak it outside the privacy "
            "budget (write one with `synthcare validate DATA --write-spec spec.yaml`, then set "
            "bounds a clinician would, not the data's own extremes)"
        )
    raw = parse_table(config.data, data, given)
    inferred = given is None
    spec = given or infer_spec(raw, name=config.dataset_name, **config.roles())
    typed = validate(raw, spec, config.data)
    if config.conditions:  # an impossible condition fails before anything is written
        check_against_spec(spec, config.conditions)
        meeting = len(rows_meeting(typed, config.conditions))
        if meeting * config.holdout_fraction < MIN_CONDITIONED_HOLDOUT:
            raise ConditionError(
                f"conditions {config.conditions}: {meeting} patients in {config.data} meet them; "
                f"the holdout needs at least {MIN_CONDITIONED_HOLDOUT} of them to measure privacy"
            )
    logger.info(
        "validated %s: %d rows x %d columns against %s spec",
        config.data,
        len(typed),
        typed.shape[1],
        "an inferred" if inferred else "the given",
    )
    # Valid: only now does the run folder come into being.
    storage.write_json(
        run_path(run_url, "config"),
        {**config.model_dump(mode="json"), "fingerprint": config.fingerprint()},
    )
    storage.write_once(run_path(run_url, "spec"), spec.to_yaml().encode())
    storage.write_parquet(run_path(run_url, "validated"), typed)
    return Ingested(
        run_url=run_url,
        spec=spec,
        spec_inferred=inferred,
        input_sha256=hashlib.sha256(data).hexdigest(),
        rows=len(typed),
        file_dtypes=raw.attrs["file_dtypes"],
    )
