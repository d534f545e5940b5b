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
