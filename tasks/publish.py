"""Step 7: the gate decides, then the manifest is written last.

Passed: the candidate parts move to ``synthetic/``, the only folder meant to leave the hospital.
Rejected: they stay in ``candidate/`` for inspection, the manifest says ``rejected`` and why, and
the flow ends Failed. A run folder without a manifest is incomplete, never a result.
"""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from pydantic import BaseModel

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


class Published(BaseModel):
    manifest_url: str
    status: str  # "complete" or "rejected"
    reasons: list[str]
    synthetic_urls: list[str]


def release(candidate_urls: list[str], run_url: str) -> list[str]:
    """Move passed parts from ``candidate/`` to ``synthetic/`` (copy, then remove the candidate)."""
    released = []
    for url in candidate_urls:
        target = storage.join(run_path(run_url, "synthetic"), url.rsplit("/", 1)[-1])
        released.append(storage.copy_once(url, target))
    for url in candidate_urls:
        storage.remove(url)
    return released


def gate_markdown(status: str, reasons: list[str], checks: list[dict], report_url: str) -> str:
    lines = [f"# Release gate: {status.upper()}", ""]
    lines += [f"- {r}" for r in reasons] or ["All privacy limits (and any floors set) hold."]
    lines += ["", "| metric | value | rule | passed |", "|---|---:|---|---|"]
    lines += [
        f"| {c['metric']} | {c['value'] if c['value'] is None else round(c['value'], 4)} | {c['rule']} "
        f"| {'yes' if c['passed'] else 'NO'} |"
        for c in checks
    ]
    link = report_url if "://" in report_url else f"file://{report_url}"
    lines += ["", f"The evaluation report with plots: [{report_url}]({link})"]
    return "\n".join(lines)


@task(name="publish", **TASK_OPTIONS)
def publish(
    run_url: str,
    config: RunConfig,
    input_sha256: str,
    results: dict[str, Any],
    timings: dict[str, float],
    metrics: dict[str, Any],
    candidate_urls: list[str],
) -> Published:
    decision = metrics["gate"]  # decided by the evaluate step, shown in its report
    status = "complete" if decision["passed"] else "rejected"
    released = release(candidate_urls, run_url) if decision["passed"] else []
    manifest = {
        "run_url": run_url,
        "status": status,
        "gate": decision,
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
    create_markdown_artifact(
        gate_markdown(status, decision["reasons"], decision["checks"], run_path(run_url, "report")),
        key="release-gate",
        description=f"Release gate for {config.dataset_name}",
    )
    logger = get_run_logger()
    if decision["passed"]:
        logger.info("gate passed; published %s", url)
    else:
        logger.warning("gate REJECTED the run: %s", "; ".join(decision["reasons"]))
    return Published(
        manifest_url=url, status=status, reasons=decision["reasons"], synthetic_urls=released
    )
