"""The auto rule: privacy first, then quality; every candidate's figures kept."""

import pytest

from tasks.config import ConfigError, RunConfig
from tasks.select import (
    FAMILIES,
    MIN_VALIDATION_ROWS,
    REFERENCE_WIDTH,
    Candidate,
    CandidateScore,
    candidates,
    chance_auc_noise,
    choose,
    dcr_limit,
    estimated_seconds,
    estimated_width,
    fold_count,
    fold_frames,
    plan,
    planning_rows,
    pooled,
    privacy_reasons,
    quality,
    select_family,
    validation_fraction,
)

GATE = {"max_dcr_share": 0.55, "max_membership_auc": 0.60}


def _scored(name: str, q: float, mia: float, dcr: float = 0.5, copies: int = 0) -> CandidateScore:
    summary = {"membership_auc": mia, "dcr_share": dcr, "exact_copies": copies}
    reasons = privacy_reasons(summary, GATE)
    return CandidateScore(
        candidate=Candidate(name=name, generator=name.split("-")[0], settings={}, seed=0),
        fit_seconds=1.0,
        scores=summary,
        fidelity=q,
        utility=q,
        quality=q,
        private=not reasons,
        reasons=reasons,
        membership_limit=GATE["max_membership_auc"],
        dcr_limit=GATE["max_dcr_share"],
    )


def test_quality_is_the_mean_of_fidelity_and_utility() -> None:
    summary = {
        "column_shape_similarity": 0.9,
        "pair_trend_similarity": 0.8,
        "detection_auc": 0.75,  # detection score 0.5
        "tstr_auc": 0.72,
        "trtr_auc": 0.8,  # utility 0.9
    }
    fidelity, utility, overall = quality(summary)
    assert fidelity == pytest.approx((0.9 + 0.8 + 0.5) / 3)
    assert utility == pytest.approx(0.9)
    assert overall == pytest.approx((fidelity + 0.9) / 2)
    no_target = {k: v for k, v in summary.items() if not k.startswith(("tstr", "trtr"))}
    assert quality(no_target) == (pytest.approx(fidelity), None, pytest.approx(fidelity))
    survival = {**no_target, "tstr_cindex": 0.7, "trtr_cindex": 0.7}
    assert quality(survival)[1] == pytest.approx(1.0)


def test_a_better_candidate_that_leaks_is_not_chosen() -> None:
    scored = [
        _scored("ctgan-s0", 0.80, mia=0.52),
        _scored("tabddpm-s0", 0.95, mia=0.65),  # best quality, fails membership
        _scored("tvae-s0", 0.85, mia=0.50, copies=1),  # an exact copy
        _scored("gaussian_copula-s0", 0.70, mia=0.50),
    ]
    selection = choose(scored)
    assert selection.chosen.name == "ctgan-s0"
    assert "2 of 4" in selection.reason
    assert scored[1].reasons == ["membership AUC 0.650 > 0.6"]
    assert scored[2].reasons == ["exact copies 1"]
    assert len(selection.candidates) == 4


def test_when_none_is_private_the_least_exposed_goes_to_the_gate() -> None:
    selection = choose([_scored("a-s0", 0.9, mia=0.7), _scored("b-s0", 0.5, mia=0.62)])
    assert selection.chosen.name == "b-s0" and "release gate decides" in selection.reason


def test_candidates_cover_every_family_and_seed_cheapest_first() -> None:
    from generators.schema import infer_spec
    from tests.conftest import make_patients

    config = RunConfig(data="x.csv", generator="auto", auto_seeds=2, epochs=5, seed=3)
    spec = infer_spec(make_patients(50), name="p", target="died")
    chosen, skipped = candidates(config, fit_rows=400, spec=spec)
    assert [c.name for c in chosen] == [
        "cart-s3",
        "cart-s4",
        "gaussian_copula-s3",
        "gaussian_copula-s4",
        "forestflow-s3",
        "forestflow-s4",
        "tvae-s3",
        "tvae-s4",
        "tabddpm-s3",
        "tabddpm-s4",
        "ctgan-s3",
        "ctgan-s4",
    ]
    assert skipped == []
    settings = {c.generator: c.settings for c in chosen}
    assert settings["ctgan"] == {"epochs": 5} and settings["cart"] == settings["forestflow"] == {}


def test_auto_is_the_default_for_tables_unless_settings_or_privacy_name_another() -> None:
    assert RunConfig(data="x.csv").generator_name("table") == "auto"
    assert RunConfig(data="x.csv").auto
    assert RunConfig(data="x.csv", generator_config={"pac": 1}).generator_name() == "ctgan"
    assert RunConfig(data="x.csv", dp_epsilon=1.0).generator_name() == "dp"
    assert RunConfig(data="x.csv", generator="ctgan", dp_epsilon=1.0).generator_name() == "ctgan"
    assert RunConfig(data="x.csv").generator_name("sequence") == "auto"  # by the data's shape
    assert RunConfig(data="x.csv", epochs=5).generator_name("sequence") == "dgan"
    assert not RunConfig(data="x.csv", generator="tvae").auto


def test_the_time_budget_skips_families_by_their_estimate() -> None:
    # 20,000 rows: the 80 % fit part at 300 epochs; fit + retraining on the whole split
    fit_rows = 16_000
    assert estimated_seconds("cart", {}, fit_rows) == 0.0
    tvae = estimated_seconds("tvae", {}, fit_rows)
    assert tvae == pytest.approx(1.4e-5 * 300 * fit_rows * 2.25)
    chosen, skipped = plan(FAMILIES, seed=0, fit_rows=fit_rows, time_budget=180.0)
    assert [c.generator for c in chosen] == ["cart", "gaussian_copula", "tvae"]
    # forestflow's cost is unknown without the spec: skipped, never taken as free
    assert [line.split(":")[0] for line in skipped] == ["forestflow", "tabddpm", "ctgan"]
    assert "estimated 281 s for 16000 rows, 29 s of the 180 s budget left" in skipped[1]
    everything, no_spec = plan(FAMILIES, seed=0, fit_rows=fit_rows, time_budget=None)
    assert len(everything) == 5 and no_spec == [
        "forestflow: no spec to estimate its regressors from"
    ]
    # fewer epochs fit more families; a budget nothing fits is refused with the estimates
    assert len(plan(FAMILIES, seed=0, epochs=20, fit_rows=fit_rows)[0]) == 5
    with pytest.raises(ValueError, match="no family fits the time budget of 10.0 s"):
        plan(["ctgan"], seed=0, fit_rows=fit_rows, time_budget=10.0)


def test_wide_tables_cost_more_and_the_estimate_says_so() -> None:
    """The 170-column opt table trained CTGAN for 30 minutes against a 180 s budget when the
    estimate ignored width; now its encoded width scales the estimate and it is skipped."""
    import pandas as pd

    from generators.schema import infer_spec

    n = 40
    table = pd.DataFrame(
        {
            "age": [None, *(30.5 + i for i in range(n - 1))],
            "ward": ["a", "b", "c", "a"] * (n // 4),
            "died": [0, 1] * (n // 2),
            "id": range(n),
        }
    )
    spec = infer_spec(table, name="t", target="died", id_columns=["id"])
    # age: offset + 10 modes + missing flag; ward: 3 values; died: 2 values; the id: nothing
    assert estimated_width(spec) == 1 + 10 + 2 + 3 + 2
    narrow = estimated_seconds("ctgan", {}, 461)
    assert estimated_seconds("ctgan", {}, 461, width=REFERENCE_WIDTH // 2) == narrow
    opt = estimated_seconds("ctgan", {}, 461, width=9_353)  # opt's fit rows and width
    assert opt == pytest.approx(narrow * 9_353 / REFERENCE_WIDTH)
    assert 1_000 < opt < 1_500  # measured: 1.83 s an epoch x 300 epochs x 2.25 = 1,235 s
    chosen, skipped = plan(FAMILIES, seed=0, fit_rows=461, width=9_353, time_budget=180.0)
    assert [c.generator for c in chosen] == ["cart", "gaussian_copula"]
    assert "of encoded width 9353" in skipped[-1]


def test_forestflow_is_estimated_by_its_regressors_and_joins_auto_within_the_budget() -> None:
    from generators.forestflow import SECONDS_PER_TREE, SECONDS_PER_TREE_ROW
    from generators.schema import infer_spec
    from tests.conftest import make_patients

    spec = infer_spec(make_patients(50), name="p", target="died")
    assert FAMILIES.index("gaussian_copula") < FAMILIES.index("forestflow") < FAMILIES.index("tvae")
    assert estimated_seconds("forestflow", {}, 5_000) == 0.0  # without a spec: unknown
    # age 1, creatinine 1 + missing flag 2, sex 2, stage 4, admitted 1, ward 4 + missing 1
    variables = 1 + 3 + 2 + 4 + 1 + 5
    rows = 5_000 // 2 * 20  # per outcome class, 20 copies each
    per_tree = SECONDS_PER_TREE + SECONDS_PER_TREE_ROW * rows
    expected = 20 * variables * 2 * 40 * per_tree * 2.25  # fit and retraining
    assert estimated_seconds("forestflow", {}, 5_000, spec=spec) == pytest.approx(expected)
    fewer = estimated_seconds("forestflow", {"levels": 10}, 5_000, spec=spec)
    assert fewer == pytest.approx(expected / 2)
    chosen, skipped = plan(
        ["cart", "forestflow"], seed=0, fit_rows=5_000, time_budget=60.0, spec=spec
    )
    assert [c.generator for c in chosen] == ["cart"] and skipped[0].startswith("forestflow:")
    assert len(plan(["forestflow"], seed=0, fit_rows=5_000, time_budget=None, spec=spec)[0]) == 1
    # a small table: the default families all fit the default budget, forestflow among them
    chosen, skipped = plan(FAMILIES, seed=0, fit_rows=300, time_budget=180.0, spec=spec)
    assert [c.generator for c in chosen] == list(FAMILIES) and skipped == []


def test_auto_refuses_settings_it_cannot_honour() -> None:
    with pytest.raises(ConfigError, match="no generator_config"):
        RunConfig(data="x.csv", generator="auto", generator_config={"pac": 1}).generator_settings()
    with pytest.raises(ConfigError, match="differential privacy"):
        RunConfig(data="x.csv", generator="auto", dp_epsilon=1.0).generator_settings()


def test_the_membership_limit_allows_for_the_noise_of_small_validation_sets() -> None:
    # a 400-row table: 320 fit rows, 80 validation rows (40 as the density attack's non-members)
    small = chance_auc_noise(320, 40)
    large = chance_auc_noise(5000, 630)
    assert 0.09 < small < 0.1 and 0.02 < large < 0.03
    summary = {"membership_auc": 0.65, "dcr_share": 0.5, "exact_copies": 0}
    assert privacy_reasons(summary, GATE, small) == []
    assert privacy_reasons(summary, GATE, large) == ["membership AUC 0.650 > 0.624"]


def test_cli_budget_and_utility_floor_map_onto_the_run_config() -> None:
    from flows.cli import _gate, _time_budget, parser

    def fields(*extra: str) -> dict:
        args = parser().parse_args(["generate", "x.csv", *extra])
        return RunConfig(data="x.csv", **_time_budget(args), **_gate(args)).model_dump()

    default = fields()
    assert default["time_budget"] == 180.0 and default["gate"]["min_tstr_ratio"] == 0.85
    off = fields("--time-budget", "0", "--gate-min-utility", "0")
    assert off["time_budget"] is None and off["gate"]["min_tstr_ratio"] is None
    set_ = fields("--time-budget", "60", "--gate-min-utility", "0.9")
    assert set_["time_budget"] == 60.0 and set_["gate"]["min_tstr_ratio"] == 0.9


def test_the_dcr_limit_allows_for_chance_at_the_validation_size_and_still_catches_copying() -> None:
    # birthwt, seed 0: 27 validation rows; the copula's 0.62 was noise (the chance level 0.66)
    small = {"membership_auc": 0.55, "dcr_share": 0.62, "dcr_share_noise": 0.158, "exact_copies": 0}
    assert privacy_reasons(small, GATE) == []
    assert dcr_limit(small, GATE) == pytest.approx(0.658)
    copying = {**small, "dcr_share": 0.93}
    assert privacy_reasons(copying, GATE) == ["DCR share 0.930 > 0.658"]
    # thousands of rows: chance is 0.51, the gate's 0.55 holds
    large = {**small, "dcr_share": 0.56, "dcr_share_noise": 0.012}
    assert dcr_limit(large, GATE) == 0.55
    assert privacy_reasons(large, GATE) == ["DCR share 0.560 > 0.55"]
    assert dcr_limit({"dcr_share": 0.5}, GATE) == 0.55  # older summaries: the plain limit


@pytest.mark.parametrize(("train_rows", "validation_rows"), [(96, 20), (132, 27), (5039, 1008)])
def test_the_validation_split_holds_enough_rows_to_score_privacy(
    train_rows, validation_rows
) -> None:
    import pandas as pd

    from generators.schema import infer_spec
    from tasks.split import split_frame

    frame = pd.DataFrame({"x": range(train_rows), "y": [k % 3 == 0 for k in range(train_rows)]})
    spec = infer_spec(frame, target="y")
    fit, validation, _ = split_frame(frame, spec, validation_fraction(train_rows), seed=0)
    assert len(validation) == validation_rows >= MIN_VALIDATION_ROWS
    assert len(fit) + len(validation) == train_rows


def _frame(rows: int):  # noqa: ANN202 - a small table with a 1-in-3 outcome
    import pandas as pd

    from generators.schema import infer_spec

    frame = pd.DataFrame({"x": range(rows), "y": [k % 3 == 0 for k in range(rows)]})
    return frame, infer_spec(frame, target="y")


def test_small_tables_are_scored_on_folds_as_far_as_rows_and_budget_allow() -> None:
    cheap = [Candidate(name="cart-s0", generator="cart", settings={}, seed=0)]
    assert fold_count(132, cheap) == 5  # birthwt: 5 folds of 26-27 rows
    assert fold_count(95, cheap) == 4  # veterans: 4 folds of at least 20 rows
    assert fold_count(399, cheap) == 5 and fold_count(400, cheap) == 1  # FOLD_ROWS
    assert fold_count(132, cheap, folds=1) == 1  # auto_folds 1: one split, as before
    assert fold_count(30, cheap) == 1  # one fold of 20 rows would leave 10 to fit
    # ctgan at 300 epochs on 280 fit rows: 3.4 s a fit, 4.2 s for the retraining
    ctgan = [Candidate(name="ctgan-s0", generator="ctgan", settings={}, seed=0)]
    one_fit = estimated_seconds("ctgan", {}, planning_rows(350)) / (1 + 1 / 0.8)
    assert one_fit == pytest.approx(4.0e-5 * 300 * 280)
    assert fold_count(350, ctgan, time_budget=None) == 5
    assert fold_count(350, ctgan, time_budget=one_fit * 4.25) == 3  # 3 fits + 1.25 retraining
    assert fold_count(350, ctgan, time_budget=one_fit * 3.2) == 1  # room for one split only


def test_folds_validate_every_training_row_once_and_keep_the_outcome_share() -> None:
    from tasks.split import split_frame

    frame, spec = _frame(132)
    cuts = fold_frames(frame, spec, 5, seed=0)
    held = [set(v["x"]) for _, v in cuts]
    assert sorted(len(h) for h in held) == [26, 26, 26, 27, 27]
    assert set().union(*held) == set(frame["x"]) and sum(map(len, held)) == 132
    for (fit, validation), h in zip(cuts, held, strict=True):
        assert not set(fit["x"]) & h and len(fit) + len(validation) == 132
        assert validation["y"].sum() in (8, 9)  # stratified: 44 outcomes over 5 folds
    (one,) = fold_frames(frame, spec, 1, seed=0)  # one fold: the validation split as before
    fit, validation, _ = split_frame(frame, spec, validation_fraction(132), seed=0)
    assert one[0].equals(fit) and one[1].equals(validation)


def test_a_candidate_is_judged_by_its_mean_over_folds_and_private_on_the_means() -> None:
    lucky = [_scored("ctgan-s0", q, mia=0.5) for q in (0.95, 0.70, 0.72, 0.68, 0.75)]
    steady = [_scored("cart-s0", q, mia=0.5) for q in (0.90, 0.88, 0.86, 0.89, 0.87)]
    assert choose([lucky[0], steady[0]]).chosen.name == "ctgan-s0"  # one split: the lucky one
    pooled_lucky, pooled_steady = pooled(lucky), pooled(steady)
    assert pooled_steady.quality == pytest.approx(0.88) and pooled_lucky.quality == 0.76
    assert pooled_steady.fold_quality == [0.90, 0.88, 0.86, 0.89, 0.87]
    selection = choose([pooled_lucky, pooled_steady], folds=5)
    assert selection.chosen.name == "cart-s0" and selection.folds == 5
    assert "means over 5 folds" in selection.reason
    # privacy holds on the means, within the folds' mean limits (here the gate's): one leaky fold of five passes
    # (mean membership AUC 0.58 <= 0.60), two do not (0.62), and the reason says so
    leaky = [_scored("tvae-s0", 0.9, mia=m) for m in (0.5, 0.7, 0.5, 0.6, 0.6)]
    assert pooled(leaky).private and pooled(leaky).reasons == []
    worse = [_scored("tvae-s0", 0.9, mia=m) for m in (0.7, 0.7, 0.5, 0.6, 0.6)]
    assert not pooled(worse).private
    assert pooled(worse).reasons == ["mean membership AUC 0.620 > 0.600"]
    assert pooled(worse).scores["membership_auc"] == pytest.approx(0.62)
    copied = [_scored("tvae-s0", 0.9, mia=0.5, copies=c) for c in (0, 2, 1)]
    assert pooled(copied).scores["exact_copies"] == 3
    assert pooled(copied).reasons == ["exact copies 3"]
    assert pooled(steady[:1]) is steady[0]  # one split: its own scores
    # a fold that cannot be scored counts as quality 0; none scored: not private, and why
    unscored = steady[0].model_copy(
        update={
            "scores": {},
            "quality": 0.0,
            "private": False,
            "reasons": ["not scored: one class"],
        }
    )
    part = pooled([steady[0], unscored])
    assert part.quality == pytest.approx(0.45) and part.fold_quality == [0.90, 0.0]
    none = pooled([unscored, unscored])
    assert not none.private and none.scores == {} and none.quality == 0.0
    assert none.reasons == ["not scored: one class (on all 2 folds)"]


def test_auto_in_one_process_scores_a_small_table_on_folds() -> None:
    from generators.schema import infer_spec
    from tests.conftest import make_patients

    train = make_patients(150, seed=4)
    spec = infer_spec(train, name="p", target="died", id_columns=["patient_id"])
    families = ["cart", "gaussian_copula"]
    selection = select_family(train, spec, seed=0, families=families, folds=3)
    assert selection.folds == 3
    for c in selection.candidates:
        assert len(c.fold_quality) == 3
        assert c.quality == pytest.approx(sum(c.fold_quality) / 3, abs=1e-4)
    best = max((c for c in selection.candidates if c.private), key=lambda c: c.quality)
    assert selection.chosen == best.candidate
    assert select_family(train, spec, seed=0, families=families, folds=1).folds == 1
