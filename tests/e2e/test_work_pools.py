"""End to end, as in production: the repository's deployments on a real Prefect server, a generate
run triggered through the API with parameters, its trainings fanned out as runs of the train
deployment to two workers, every artifact in SeaweedFS S3; then the dashboard in a browser.

One module, one server: the tests run in order and build on each other (the browser looks at the
run the trigger test made).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tasks import storage
from tests.conftest import make_patients, s3_filesystem
from tests.e2e.conftest import GENERATE_POOL, TRAIN_POOL, TRAIN_WORKERS, Stack

pytestmark = pytest.mark.slow

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN: dict[str, Any] = {}  # what the trigger test made, for the dashboard test


def _config(bucket: str, root: str, **extra: Any) -> dict[str, Any]:
    return {
        "data": f"s3://{bucket}/e2e-input/patients.csv",
        "target": "died",
        "dataset": "patients",
        "id_columns": ["patient_id"],
        "generator": "ctgan",
        "epochs": 2,
        "rows": 200,
        "guidance_pool": 2,
        "output": f"s3://{bucket}/{root}",
        "train_deployment": "train/train-gpu",
        # 60 holdout patients: the gate's limits would test noise here (the gate has its own
        # tests); no exact copy is still the rule
        "gate": {
            "max_dcr_share": 0.75,
            "max_membership_auc": 0.8,
            "max_exact_copies": 0,
            "min_tstr_ratio": None,  # 2-epoch models
        },
        **extra,
    }


@pytest.fixture(scope="module")
def input_csv(stack: Stack, seaweedfs: dict[str, str], tmp_path_factory) -> str:  # noqa: ANN001
    fs = s3_filesystem(
        seaweedfs["AWS_ACCESS_KEY_ID"], seaweedfs["AWS_SECRET_ACCESS_KEY"], seaweedfs["endpoint"]
    )
    url = f"{seaweedfs['bucket']}/e2e-input/patients.csv"
    fs.pipe_file(url, make_patients(300, seed=4).to_csv(index=False).encode())
    return f"s3://{url}"


def _client(stack: Stack):  # noqa: ANN202
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    class _Bound:
        def __enter__(self):  # noqa: ANN204
            self._settings = temporary_settings(updates={PREFECT_API_URL: stack.api_url})
            self._settings.__enter__()
            self._client = get_client(sync_client=True)
            return self._client.__enter__()

        def __exit__(self, *exc) -> None:  # noqa: ANN002
            self._client.__exit__(*exc)
            self._settings.__exit__(*exc)

    return _Bound()


def _deliver_events_and_logs() -> None:
    """Prefect sends a flow's events and logs from background services bound to the API this
    process used; left pending, they retry against a stopped server at exit."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    EventsWorker.drain_all(timeout=30)
    APILogWorker.drain_all(timeout=30)


def test_a_missing_or_unserved_train_deployment_fails_clearly(
    stack: Stack, s3_env: dict[str, str], input_csv: str
) -> None:
    """Before any worker runs: a deployment that is not there fails before any work; one whose
    pool has no worker fails after the pickup timeout, naming the pool and the command."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.generate import generate
    from tasks.config import ConfigError, RunConfig
    from tasks.remote import RemoteTrainingError

    bucket = s3_env["bucket"]
    missing = RunConfig(**_config(bucket, "e2e-missing", train_deployment="train/nowhere"))
    unserved = RunConfig(
        **_config(
            bucket, "e2e-unserved", generator="gaussian_copula", epochs=None, train_pickup_timeout=3
        ),
    )
    with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
        try:
            with pytest.raises(ConfigError, match="'train/nowhere' is not deployed"):
                generate(missing)
            assert not storage.exists(f"s3://{bucket}/e2e-missing")  # nothing written
            with pytest.raises(RemoteTrainingError, match=f"pool '{TRAIN_POOL}'.*worker start"):
                generate(unserved)
        finally:
            _deliver_events_and_logs()  # to this server, before it stops
    runs = storage.list_files(f"s3://{bucket}/e2e-unserved/patients/runs")
    assert runs and not any(u.endswith("/manifest.json") for u in runs)  # never a result
    with _client(stack) as client:  # the abandoned training run was cancelled, not left queued
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterState

        queued = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type={"any_": ["SCHEDULED", "PENDING"]})
            )
        )
        assert queued == []


def test_the_server_accepts_the_gpu_pool_templates(stack: Stack) -> None:
    """Docker and Kubernetes pools created from deployments/pools/*-gpu.json (the server checks
    that every placeholder is a declared variable); their GPU variable shows in the pool."""
    import json

    from prefect.client.schemas.actions import WorkPoolCreate

    pools = Path(__file__).resolve().parents[2] / "deployments" / "pools"
    with _client(stack) as client:
        for kind in ("docker", "kubernetes"):
            template = json.loads((pools / f"{kind}-gpu.json").read_text())
            client.create_work_pool(
                WorkPoolCreate(name=f"synthcare-gpu-{kind}", type=kind, base_job_template=template)
            )
            stored = client.read_work_pool(f"synthcare-gpu-{kind}").base_job_template
            assert stored["variables"]["properties"]["gpus"]["default"] == 1


def _trigger_and_wait(  # noqa: ANN202
    stack: Stack,
    client,  # noqa: ANN001
    config: dict[str, Any],
    name: str,
    overrides: dict[str, Any] | None = None,
):
    """A run of generate/flchain-weekly with these parameters, as the UI's Run button or the
    schedule makes one; waits until it ends and fails with the workers' logs unless it completed."""
    deployment = client.read_deployment_by_name("generate/flchain-weekly")
    parameters: dict[str, Any] = {"config": config}
    if overrides:  # as `prefect deployment run ... --param overrides='{...}'` sends them
        parameters["overrides"] = overrides
    flow_run = client.create_flow_run_from_deployment(
        deployment.id, parameters=parameters, name=name
    )
    deadline = time.monotonic() + 480
    while (state := client.read_flow_run(flow_run.id).state).type.value not in FINAL:
        assert time.monotonic() < deadline, "generate did not finish in 8 minutes"
        time.sleep(1)
    logs = "\n".join(
        f"--- {worker}\n{stack.log(worker)}" for worker in ("worker-generate", *TRAIN_WORKERS)
    )
    assert state.type.value == "COMPLETED", f"{state.message}\n{logs}"
    return flow_run


def _trainings_under(client, flow_run_id):  # noqa: ANN001, ANN202
    """The train deployment's runs started by one generate run."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    return client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
        ),
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["train-gpu"])),
    )


def _training_progress(client, run_ids) -> list[tuple[str, float]]:  # noqa: ANN001
    """(training run name, progress %) of each training-progress artifact of these runs."""
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    names = {r.id: r.name for r in client.read_flow_runs() if r.id in set(run_ids)}
    found = client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=list(run_ids)),
            key=ArtifactFilterKey(any_=["training-progress"]),
        )
    )
    return [(names[a.flow_run_id], float(a.data)) for a in found]


def test_generate_triggered_through_the_api_trains_on_both_workers_and_lands_in_s3(
    stack: Stack, s3_env: dict[str, str], input_csv: str
) -> None:
    start = time.monotonic()
    stack.start("worker-generate", "worker", "start", "--pool", GENERATE_POOL, "--name", "cpu")
    for name in TRAIN_WORKERS:  # one training at a time each, like one GPU each
        stack.start(name, "worker", "start", "--pool", TRAIN_POOL, "--name", name, "--limit", "1")
    bucket = s3_env["bucket"]
    config = _config(
        bucket, "e2e", generator="auto", auto_families=["ctgan", "gaussian_copula"], auto_folds=2
    )
    rows = {"rows": 150}  # one field changed on top of the config, as from the command line
    with _client(stack) as client:
        flow_run = _trigger_and_wait(stack, client, config, "e2e-auto", rows)
        trains = _trainings_under(client, flow_run.id)
        progress = _training_progress(client, [r.id for r in trains])
    elapsed = time.monotonic() - start
    RUN.update(flow_run_id=str(flow_run.id), name="e2e-auto", seconds=elapsed)

    runs = [u for u in storage.list_files(f"s3://{bucket}/e2e/patients/runs") if "manifest" in u]
    assert len(runs) == 1
    run_url = runs[0].rsplit("/manifest.json", 1)[0]
    manifest = storage.read_json(runs[0])
    assert manifest["status"] == "complete"
    for name in manifest["files"]:  # every artifact the manifest names is in S3
        assert storage.exists(storage.join(run_url, name)), name
    assert "model/trained.json" in manifest["files"]
    synthetic = storage.read_parquet(storage.join(run_url, "synthetic/part-00000.parquet"))
    assert len(synthetic) == 150 and manifest["config"]["rows"] == 150  # the override held
    # every CTGAN training showed its progress in the UI: a progress artifact that reached 100 %
    assert {r.name for r in trains if "ctgan" in r.name} <= {n for n, p in progress if p == 100}

    candidates = [c["candidate"]["name"] for c in manifest["results"]["auto"]["candidates"]]
    assert candidates == ["ctgan-s0", "gaussian_copula-s0"]
    # five trainings (two candidates on each of 2 folds, then the chosen one on the whole
    # split), all children
    chosen = manifest["results"]["auto"]["chosen"]["name"]
    assert manifest["results"]["auto"]["folds"] == 2
    on_folds = [(c, k) for c in candidates for k in (1, 2)]
    expected = sorted([f"train-{c}-f{k}" for c, k in on_folds] + [f"train-{chosen}"])
    assert sorted(r.name for r in trains) == expected
    assert all(r.state.type.value == "COMPLETED" for r in trains)
    workers = {
        storage.read_json(storage.join(run_url, "auto", f"fold-{k}", c, "model", "trained.json"))[
            "worker"
        ]
        for c, k in on_folds
    }
    assert workers == set(TRAIN_WORKERS)  # the candidates trained in parallel on both
    final = storage.read_json(storage.join(run_url, "model", "trained.json"))
    assert final["worker"] in TRAIN_WORKERS and final["device"] == "cpu"
    assert manifest["results"]["train"]["worker"] == final["worker"]
    print(f"\ne2e: generate through the API on two workers took {elapsed:.1f} s")

    # The same parameters again, as the weekly schedule runs them: nothing changed, no training
    start = time.monotonic()
    with _client(stack) as client:
        again = _trigger_and_wait(stack, client, config, "e2e-auto-unchanged", rows)
        assert _trainings_under(client, again.id) == []
    rerun = time.monotonic() - start
    manifests = [
        u for u in storage.list_files(f"s3://{bucket}/e2e/patients/runs") if "manifest" in u
    ]
    latest = max(manifests)  # run ids start with their UTC time
    assert latest != runs[0]
    reused = storage.read_json(latest)["results"]["train"]
    assert reused["reused_from"] and reused["reused_from"].startswith(f"s3://{bucket}/e2e/")
    print(f"e2e: the unchanged rerun reused the model and took {rerun:.1f} s")


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium not installed")
def test_the_dashboard_shows_the_deployment_and_the_completed_run(
    stack: Stack, tmp_path: Path
) -> None:
    """Headless Chromium renders the Prefect UI; the pages name the deployment and the run."""
    if not RUN:
        pytest.skip("the trigger test did not run")
    shots = Path(__import__("os").environ.get("SYNTHCARE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with _client(stack) as client:
        generate_id = client.read_deployment_by_name("generate/flchain-weekly").id
    pages = {
        "deployments": (f"{stack.ui_url}/deployments", ["flchain-weekly", "train-gpu"]),
        # the typed form a user fills to trigger a run (RunConfig's fields and their help)
        "run-form": (
            f"{stack.ui_url}/deployments/deployment/{generate_id}/run",
            ["Train Deployment", "Run every training as a run of this deployment"],
        ),
        "flow-run": (f"{stack.ui_url}/runs/flow-run/{RUN['flow_run_id']}", [RUN["name"]]),
    }
    for name, (url, expected) in pages.items():
        browser = [
            "chromium",
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1440,900",
            "--virtual-time-budget=20000",  # let the single-page app fetch from the API
        ]
        dom = subprocess.run(
            [*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        for text in expected:
            assert text in dom, f"{text!r} not on {url}"
        if name == "flow-run":
            assert "Completed" in dom
        shot = shots / f"{name}.png"
        subprocess.run(
            [*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120, check=True
        )
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_records_triggered_through_the_api_read_and_write_s3(
    stack: Stack, s3_env: dict[str, str]
) -> None:
    """The records deployment, run as its schedule would, on the MIMIC demo's tables in S3."""
    import yaml

    from flows.demo import MIMIC_DEMO

    bucket = s3_env["bucket"]
    fs = s3_filesystem(
        s3_env["AWS_ACCESS_KEY_ID"], s3_env["AWS_SECRET_ACCESS_KEY"], s3_env["endpoint"]
    )
    for path in MIMIC_DEMO.iterdir():
        fs.pipe_file(f"{bucket}/e2e-records-input/mimic/{path.name}", path.read_bytes())
    if "worker-generate" not in stack.processes:
        stack.start("worker-generate", "worker", "start", "--pool", GENERATE_POOL, "--name", "cpu")
    shipped = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / "deployments/prefect.yaml").read_text()
    )
    (records,) = [d for d in shipped["deployments"] if d["name"] == "mimic-records-monthly"]
    config = {
        **records["parameters"]["config"],
        "data": f"s3://{bucket}/e2e-records-input/mimic",
        "schema_url": f"s3://{bucket}/e2e-records-input/mimic/schema.yaml",
        "output": f"s3://{bucket}/e2e-records",
    }
    with _client(stack) as client:
        deployment = client.read_deployment_by_name("generate-records/mimic-records-monthly")
        flow_run = client.create_flow_run_from_deployment(
            deployment.id, parameters={"config": config}, name="e2e-records"
        )
        deadline = time.monotonic() + 300
        while (state := client.read_flow_run(flow_run.id).state).type.value not in FINAL:
            assert time.monotonic() < deadline, "generate-records did not finish in 5 minutes"
            time.sleep(1)
    assert state.type.value == "COMPLETED", f"{state.message}\n{stack.log('worker-generate')}"
    manifests = [
        u
        for u in storage.list_files(f"s3://{bucket}/e2e-records/mimic-iii-demo/runs")
        if u.endswith("manifest.json")
    ]
    assert len(manifests) == 1
    manifest = storage.read_json(manifests[0])
    assert manifest["schema_inferred"] is False and manifest["training_patients"] == 70
    metrics = manifest["metrics"]
    assert metrics["referential_integrity_min"] == 1.0
    assert metrics["date_containment_min"] == 1.0
    assert metrics["utility"]["trtr_auc"] is not None
    for url in manifest["files"]:  # every synthetic table landed in S3
        assert url.startswith(f"s3://{bucket}/e2e-records/") and storage.exists(url)
