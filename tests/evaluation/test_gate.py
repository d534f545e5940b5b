import pytest

from evaluation.gate import decide

PRIVACY = {"max_exact_copies": 0, "max_dcr_share": 0.55, "max_membership_auc": 0.60}
HONEST = {
    "exact_copies": 0,
    "dcr_share": 0.50,
    "membership_auc": 0.52,
    "detection_auc": 0.85,
    "column_shape_similarity": 0.97,
    "tstr_auc": 0.81,
    "trtr_auc": 0.84,
}


def test_honest_metrics_pass() -> None:
    decision = decide(HONEST, PRIVACY)
    assert decision.passed and decision.reasons == []
    assert [c["metric"] for c in decision.checks] == ["exact_copies", "dcr_share", "membership_auc"]


@pytest.mark.parametrize(
    ("change", "metric"),
    [
        ({"exact_copies": 1}, "exact_copies"),
        ({"dcr_share": 0.7}, "dcr_share"),
        ({"membership_auc": 0.61}, "membership_auc"),
    ],
)
def test_each_privacy_limit_rejects(change, metric) -> None:
    decision = decide({**HONEST, **change}, PRIVACY)
    assert not decision.passed
    assert len(decision.reasons) == 1 and decision.reasons[0].startswith(f"{metric} = ")


def test_optional_floors_apply_when_set_and_missing_metrics_fail() -> None:
    floors = {**PRIVACY, "min_tstr_ratio": 0.98, "max_detection_auc": 0.9}
    decision = decide(HONEST, floors)  # 0.81 / 0.84 = 0.964 < 0.98
    assert not decision.passed and "tstr_ratio" in decision.reasons[0]
    no_detection = {k: v for k, v in HONEST.items() if k != "detection_auc"}
    assert any("detection_auc = not measured" in r for r in decide(no_detection, floors).reasons)
    target_unscored = {k: v for k, v in HONEST.items() if k != "tstr_auc"}
    assert "tstr_ratio = not measured" in decide(target_unscored, floors).reasons[0]


def test_the_default_gate_holds_utility_when_there_is_a_target() -> None:
    from tasks.config import GateConfig

    gate = GateConfig().model_dump()
    assert gate["min_tstr_ratio"] == 0.85
    assert decide(HONEST, gate).passed  # 0.964
    useless = {**HONEST, "tstr_auc": 0.52, "trtr_auc": 0.78}  # the wide cohort: 0.67
    decision = decide(useless, gate)
    assert not decision.passed
    assert decision.reasons == [
        "tstr_ratio = 0.6667, must be >= 0.85: models trained on synthetic data predict too poorly"
    ]
    # a numeric target is judged on R², a table without a target has nothing to predict
    regression = {k: v for k, v in HONEST.items() if k not in ("tstr_auc", "trtr_auc")}
    assert not decide({**regression, "tstr_r2": 0.2, "trtr_r2": 0.5}, gate).passed
    assert decide({**regression, "tstr_r2": 0.45, "trtr_r2": 0.5}, gate).passed
    assert decide(regression, gate).passed
    assert all(c["metric"] != "tstr_ratio" for c in decide(regression, gate).checks)
    relaxed = GateConfig(min_tstr_ratio=None).model_dump()
    assert decide(useless, relaxed).passed


def test_the_dcr_limit_is_the_chance_level_on_a_small_holdout() -> None:
    # 57 holdout rows: an honest generator reaches 0.59 by chance; 0.58 is no evidence
    small = {**HONEST, "dcr_share": 0.58, "dcr_share_noise": 0.0912}
    decision = decide(small, PRIVACY)
    assert decision.passed
    assert decision.checks[1] == {
        "metric": "dcr_share",
        "value": 0.58,
        "rule": "<= 0.5912",
        "passed": True,
    }
    copying = decide({**small, "dcr_share": 0.9}, PRIVACY)
    assert not copying.passed and copying.reasons[0].startswith(
        "dcr_share = 0.9, must be <= 0.5912"
    )
    # a large holdout: chance is 0.51, the configured 0.55 holds
    large = decide({**HONEST, "dcr_share": 0.56, "dcr_share_noise": 0.01}, PRIVACY)
    assert not large.passed and large.checks[1]["rule"] == "<= 0.55"
