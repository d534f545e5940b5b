"""Step 7: the manifest, written last. A run folder without one is incomplete, never a result."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from prefect import get_run_logger, task

from tasks import storage
from tasks.common import TASK_OPTIONS, run_path
from tasks.config import RunConfig

PACKAGES = (
    "synthcare",
    "torch",
    "pandas",
    "numpy",
    "scikit-learn",
    "prefect",
    "great-expectations",
    "pyarrow",
    "s3fs",
)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@task(name="publish", **TASK_OPTIONS)
def publish(
    run_url: str,
    config: RunConfig,
    input_sha256: str,
    results: dict[str, Any],
    timings: dict[str, float],
    metrics: dict[str, Any],
) -> str:
    manifest = {
        "run_url": run_url,
        "status": "complete",
        "dataset": config.dataset_name,
        "config": config.model_dump(mode="json"),
        "config_sha256": config.fingerprint(),
        "input": {"url": config.data, "sha256": input_sha256},
        "versions": versions(),
        "platform": {"machine": platform.machine(), "system": platform.system()},
        "timings_seconds": timings,
        "results": results,
        "metrics": metrics["summary"],
        "files": sorted(
            u.removeprefix(run_url.rstrip("/") + "/") for u in storage.list_files(run_url)
        ),
    }
    url = storage.write_json(run_path(run_url, "manifest"), manifest)
    get_run_logger().info("published %s", url)
    return url
