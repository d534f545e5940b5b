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
        if "config" in params:  # generate and records: the typed run config
            assert validated["config"].model_dump(exclude_unset=True) == params["config"]
        else:
            assert {k: validated[k] for k in params} == params
        for schedule in deployment.get("schedules", []):
            from prefect.client.schemas.schedules import CronSchedule

            CronSchedule(cron=schedule["cron"], timezone=schedule.get("timezone"))


def test_generate_records_sample_and_train_are_deployed() -> None:
    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    entrypoints = {d["entrypoint"] for d in spec["deployments"]}
    assert entrypoints == {
        "flows/generate.py:generate",
        "flows/records.py:generate_records",
        "flows/sample.py:sample_more",
        "flows/train.py:train_model",
    }


def test_the_records_deployment_reads_the_shipped_demo_with_its_leaks() -> None:
    from flows.demo import MIMIC_DEMO, MIMIC_LEAKS

    spec = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())
    (records,) = [d for d in spec["deployments"] if d["name"] == "mimic-records-monthly"]
    config = records["parameters"]["config"]
    home = str(ROOT)
    data = config["data"].replace("{{ $SYNTHCARE_HOME }}", home)
    assert data == str(MIMIC_DEMO)
    assert (MIMIC_DEMO / "schema.yaml").as_posix() == config["schema_url"].replace(
        "{{ $SYNTHCARE_HOME }}", home
    )
    assert config["utility"]["leaks"] == MIMIC_LEAKS
