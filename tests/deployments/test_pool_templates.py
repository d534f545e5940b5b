"""The Docker and Kubernetes work-pool templates that request GPUs, rendered by the workers' own
configuration classes (prefect-docker, prefect-kubernetes) as a worker would for a flow run.
(Docker and Kubernetes do not run here; the server's acceptance of the templates is checked in
tests/e2e.)"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

POOLS = Path(__file__).resolve().parents[2] / "deployments" / "pools"


def _template(name: str) -> dict:
    return json.loads((POOLS / name).read_text())


def _render(configuration_class, template: dict, values: dict):  # noqa: ANN001, ANN202
    return asyncio.run(configuration_class.from_template_and_values(template, values, client=None))


def test_docker_template_gives_each_container_the_gpus_asked_for() -> None:
    pytest.importorskip("prefect_docker")
    from docker.types import HostConfig
    from prefect_docker.worker import DockerWorkerJobConfiguration

    template = _template("docker-gpu.json")
    default = _render(DockerWorkerJobConfiguration, template, {})
    assert default.image.endswith("synthcare-worker-cuda:0.1.0")
    two = _render(DockerWorkerJobConfiguration, template, {"gpus": 2})
    requests = two.container_create_kwargs["device_requests"]
    host = HostConfig(version="1.44", device_requests=requests)  # what docker-py sends
    assert host["DeviceRequests"][0]["Count"] == 2
    assert host["DeviceRequests"][0]["Driver"] == "nvidia"
    assert host["DeviceRequests"][0]["Capabilities"] == [["gpu"]]
    assert default.container_create_kwargs["device_requests"][0]["count"] == 1


def test_kubernetes_template_requests_nvidia_gpus_on_gpu_nodes() -> None:
    pytest.importorskip("prefect_kubernetes")
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    template = _template("kubernetes-gpu.json")
    selector = {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    config = _render(
        KubernetesWorkerJobConfiguration, template, {"gpus": 4, "gpu_node_selector": selector}
    )
    pod = config.job_manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 4
    assert container["image"].endswith("synthcare-worker-cuda:0.1.0")
    assert pod["nodeSelector"] == selector
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    default = _render(KubernetesWorkerJobConfiguration, template, {})
    limits = default.job_manifest["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert limits["limits"]["nvidia.com/gpu"] == 1


def test_every_placeholder_names_a_declared_variable() -> None:
    import re

    for name in ("docker-gpu.json", "kubernetes-gpu.json"):
        template = _template(name)
        declared = set(template["variables"]["properties"])
        used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", json.dumps(template["job_configuration"])))
        assert used <= declared, f"{name}: {used - declared} undeclared"
        assert "gpus" in used
