"""The pickup clock of trainings queued on a work pool (the waits against a real server are in
tests/e2e/test_work_pools.py)."""

from tasks.remote import pickup_clock


def test_the_pickup_clock_runs_only_while_no_worker_is_online() -> None:
    since, expired = pickup_clock(online=0, unattended_since=None, now=100.0, timeout=60)
    assert (since, expired) == (100.0, False)
    assert pickup_clock(0, since, 150.0, 60) == (100.0, False)
    assert pickup_clock(0, since, 161.0, 60) == (100.0, True)  # 61 s with nobody online
    # a worker online, however long it stays busy: no timeout, and the clock starts over
    assert pickup_clock(1, since, 10_000.0, 60) == (None, False)
    since, _ = pickup_clock(0, None, 10_001.0, 60)
    assert pickup_clock(0, since, 10_050.0, 60) == (10_001.0, False)
