"""The run config: one-field overrides, and what Prefect may keep of a run."""

import pytest

from tasks.config import ConfigError, RunConfig


def test_overrides_change_one_field_and_merge_dicts_one_level() -> None:
    base = RunConfig(data="x.csv", target="died", epochs=300, generator="ctgan")
    changed = base.with_overrides({"epochs": 5, "gate": {"min_tstr_ratio": 0.9}})
    assert changed.epochs == 5 and changed.target == "died" and changed.generator == "ctgan"
    assert changed.gate.min_tstr_ratio == 0.9
    assert changed.gate.max_dcr_share == base.gate.max_dcr_share  # the rest of the gate kept
    assert base.with_overrides(None) is base and base.with_overrides({}) is base


def test_a_bad_override_is_refused_with_the_field_named() -> None:
    base = RunConfig(data="x.csv")
    with pytest.raises(ConfigError, match="epochs"):
        base.with_overrides({"epochs": 0})
    with pytest.raises(ConfigError, match="no_such_field"):
        base.with_overrides({"no_such_field": 1})
    with pytest.raises(ConfigError, match="dataset"):
        base.with_overrides({"dataset": "../up"})


def test_no_task_or_flow_keeps_its_return_value_in_prefect_result_storage() -> None:
    """Return values (a spec holds real extremes and categories) stay out of Prefect's result
    storage whatever the server's default; runs keep their data in the run folder."""
    from flows.generate import generate
    from flows.sample import sample_more
    from flows.train import train_model
    from tasks import evaluate, ingest, profile, publish, reuse, sample, select, split, train

    tasks = [
        ingest.ingest,
        profile.profile,
        split.split,
        train.train,
        sample.sample,
        evaluate.evaluate,
        publish.publish,
        reuse.reuse_model,
        reuse.store_model,
        select.validation_split,
        select.score_candidate,
        select.record_choice,
    ]
    for step in [*tasks, generate, sample_more, train_model]:
        assert step.persist_result is False, step.name
