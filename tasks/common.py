"""What every step task shares: Prefect task options and the run folder layout."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from prefect import Task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from tasks import storage

RUN_FILES = {
    "config": "config.json",
    "spec": "spec.yaml",
    "validated": "input/validated.parquet",
    "profile_json": "profile/profile.json",
    "profile_html": "profile/profile.html",
    "train": "split/train.parquet",
    "holdout": "split/holdout.parquet",
    "model": "model",
    "selection": "auto/selection.json",  # generator "auto": every candidate's scores, the choice
    "candidate": "candidate",  # sampled rows awaiting the gate
    "synthetic": "synthetic",  # released rows: only what passed the gate
    "metrics": "evaluation/metrics.json",
    "report": "evaluation/report.html",
    "manifest": "manifest.json",
}


def _storage_failed(task: Task, task_run: TaskRun, state: State) -> bool:
    """Retry only when storage failed; bad data or a bug would fail the same way again."""
    try:
        state.result()
    except storage.StorageError:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


TASK_OPTIONS: dict[str, Any] = {
    "cache_policy": NO_CACHE,  # runs write write-once artifacts; never replay a cached result
    # a task's return value (a spec holds real extremes and categories) never goes to Prefect's
    # result storage, whatever the server's default: runs keep their data in the run folder
    "persist_result": False,
    "retries": 2,
    "retry_delay_seconds": 2,
    "retry_condition_fn": _storage_failed,
}


def new_run_id(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_path(run_url: str, key: str) -> str:
    return storage.join(run_url, RUN_FILES[key])


# the flows' options: no prints captured as logs, no return value in Prefect's result storage
FLOW_OPTIONS: dict[str, Any] = {"log_prints": False, "persist_result": False}
