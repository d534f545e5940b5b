"""A whole deployment on loopback: a real Prefect server (SQLite), the repository's deployments,
process work pools and workers, SeaweedFS for storage. Every process is stopped by its PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import _free_port

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GENERATE_POOL = "synthcare-process"
TRAIN_POOL = "synthcare-gpu"  # the GPU pool of deployments/prefect.yaml, as a process pool here
TRAIN_WORKERS = ("gpu-worker-a", "gpu-worker-b")


@dataclass
class Stack:
    api_url: str
    ui_url: str
    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def prefect(self, *args: str, timeout: float = 120) -> str:
        """The prefect CLI against this server; fails the test with its output."""
        done = subprocess.run(
            [str(BIN / "prefect"), "--no-prompt", *args],
            cwd=REPO,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str) -> None:
        log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - the process owns it
        self.processes[name] = subprocess.Popen(
            [str(BIN / "prefect"), *args],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        for proc in reversed(self.processes.values()):  # workers first, the server last
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        # one shared grace period: a worker that ignores SIGTERM (measured: each took the whole
        # 30 s it was given, 90 s a teardown) is killed when it runs out, not after its own wait
        deadline = time.monotonic() + 10
        for proc in reversed(self.processes.values()):
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except OSError:
        return False


def _create_process_pools(api_url: str, *names: str) -> None:
    """As `prefect work-pool create NAME --type process` does, without a CLI process each."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.workers.process import ProcessWorker

    template = ProcessWorker.get_default_base_job_template()
    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        with get_client(sync_client=True) as client:
            for name in names:
                client.create_work_pool(
                    WorkPoolCreate(name=name, type="process", base_job_template=template)
                )


@pytest.fixture(scope="module")
def stack(seaweedfs: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Server up, pools created, the repository's prefect.yaml deployed; no workers yet."""
    root = tmp_path_factory.mktemp("prefect-stack")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "AWS_"))}
    env.update(
        {
            "PREFECT_HOME": str(root / "home"),
            "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "PREFECT_WORKER_QUERY_SECONDS": "1",
            "SYNTHCARE_HOME": str(REPO),
            # storage credentials reach workers (and their flow runs) only through the environment
            **{k: seaweedfs[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
            "SYNTHCARE_S3_ENDPOINT": seaweedfs["endpoint"],
            "AWS_REGION": "us-east-1",
            "OMP_NUM_THREADS": "1",  # several flow runs share two cores
        }
    )
    stack = Stack(
        api_url=env["PREFECT_API_URL"], ui_url=f"http://127.0.0.1:{port}", env=env, logs=root
    )
    try:
        stack.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
        deadline = time.monotonic() + 120
        while not _healthy(f"{stack.api_url}/health"):
            if stack.processes["server"].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Prefect server did not start:\n{stack.log('server')}")
            time.sleep(0.5)
        _create_process_pools(stack.api_url, GENERATE_POOL, TRAIN_POOL)
        stack.prefect("deploy", "--prefect-file", "deployments/prefect.yaml", "--all")
        yield stack
    finally:
        stack.stop()
