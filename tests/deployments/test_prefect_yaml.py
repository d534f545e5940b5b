"""The deployment file points at a real flow and its parameters pass the flow's own validation."""

from pathlib import Path

import yaml
from prefect.flows import load_flow_from_entrypoint

ROOT = Path(__file__).resolve().parents[2]


def test_every_deployment_loads_its_flow_and_validates_its_parameters(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    assert spec["deployments"]
    for deployment in spec["deployments"]:
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        params = yaml.safe_load(
            yaml.safe_dump(deployment["parameters"]).replace(
                "{{ $SYNTHCARE_HOME }}", "/srv/synthcare"
            )
        )
        validated = flow.validate_parameters(params)
        if "config" in params:  # generate: the typed run config
            assert validated["config"].target == params["config"]["target"]
        else:
            assert {k: validated[k] for k in params} == params
        for schedule in deployment.get("schedules", []):
            from prefect.client.schemas.schedules import CronSchedule

            CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone"))


def test_generate_sample_and_train_are_deployed() -> None:
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    entrypoints = {d["entrypoint"] for d in spec["deployments"]}
    assert entrypoints == {
        "flows/generate.py:generate",
        "flows/sample.py:sample_more",
        "flows/train.py:train_model",
    }
