"""Step 1: read the input, settle its spec, validate it. Nothing is written unless it is valid.

The checks themselves are ``tasks.inputs.check_input``, the same the CLI runs before any Prefect
machinery starts; here they run again for runs started from the UI or a deployment, and only a
valid input gets a run folder.
"""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger, task
from pydantic import BaseModel

from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.config import RunConfig
from tasks.inputs import check_input
from tasks.validation import DataValidationError


class Ingested(BaseModel):
    run_url: str
    spec: DatasetSpec
    spec_inferred: bool
    input_sha256: str
    rows: int
    file_dtypes: dict[str, dict[str, Any]]  # the output is cast back to these
    patients: int | None = None  # patient histories: how many patients the rows hold


@task(name="ingest", **TASK_OPTIONS)
def ingest(config: RunConfig, run_url: str) -> Ingested:
    logger = get_run_logger()
    try:
        checked = check_input(config)
    except DataValidationError as exc:
        # Prefect keeps a failed run's exception (state message, logs, and pickled in its result
        # storage, outside the run folder): it gets the problems, never real example values
        logger.error("refused; `synthcare validate %s` shows example values", config.data)
        raise exc.without_examples() from None
    spec, typed = checked.spec, checked.typed
    logger.info(
        "validated %s: %d rows x %d columns%s against %s spec",
        config.data,
        len(typed),
        typed.shape[1],
        f" ({checked.patients} patients' histories)" if checked.patients is not None else "",
        "an inferred" if checked.spec_inferred else "the given",
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
        spec_inferred=checked.spec_inferred,
        input_sha256=checked.input_sha256,
        rows=len(typed),
        file_dtypes=checked.file_dtypes,
        patients=checked.patients,
    )
