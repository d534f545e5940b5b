"""What the ``synthcare`` command sets in the environment before Prefect reads it."""

import os
import subprocess
import sys

import pytest

READ = (
    "import flows.cli; from prefect.settings import get_current_settings; "
    "s = get_current_settings(); "
    "print(s.server.ephemeral.startup_timeout_seconds, s.server.analytics_enabled)"
)


@pytest.mark.parametrize(("given", "expected"), [(None, "120"), ("45", "45")])
def test_the_temporary_server_gets_two_minutes_to_start_unless_told(given, expected) -> None:
    """Prefect's default of 20 s failed `synthcare demo-timeseries` on two busy cores before any
    work; a value the user sets is kept."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_SERVER_")}
    if given is not None:
        env["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = given
    out = subprocess.run(
        [sys.executable, "-c", READ], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [expected, "False"]
