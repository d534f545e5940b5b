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
    assert not decision.passed and "tstr_auc_ratio" in decision.reasons[0]
    no_utility = {k: v for k, v in HONEST.items() if k not in ("tstr_auc", "trtr_auc")}
    assert "not measured" in decide(no_utility, floors).reasons[0]
