"""Each metric moves the right way on cases whose answer is known."""

import numpy as np
import pandas as pd
import pytest

from evaluation.fidelity import column_shapes, detection_auc, pair_trends
from evaluation.privacy import dcr, exact_copies, row_hashes
from evaluation.profile import profile_table
from evaluation.utility import tstr
from tests.conftest import make_patients

KINDS = {
    "age": "numeric",
    "sex": "categorical",
    "creatinine": "numeric",
    "stage": "categorical",
    "admitted": "numeric",
    "ward": "categorical",
    "died": "categorical",
}


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    df = make_patients(1200, seed=0)
    df["admitted"] = pd.to_datetime(df["admitted"])
    return df


@pytest.fixture(scope="module")
def halves(real):
    return real.iloc[:600].reset_index(drop=True), real.iloc[600:].reset_index(drop=True)


def test_same_population_scores_near_perfect_fidelity(halves) -> None:
    a, b = halves
    shapes = column_shapes(a, b, KINDS)
    assert min(shapes.values()) > 0.9
    assert np.mean(list(pair_trends(a, b, KINDS).values())) > 0.9
    assert detection_auc(a, b, KINDS)["auc"] < 0.6


def test_distorted_data_is_caught(halves) -> None:
    a, b = halves
    bad = b.copy()
    bad["age"] = bad["age"].sample(frac=1, random_state=0).to_numpy() + 15  # shifted
    bad["sex"] = "F"  # collapsed category
    shapes = column_shapes(a, bad, KINDS)
    assert shapes["age"] < 0.8 and shapes["sex"] < 0.6 and shapes["ward"] > 0.9
    assert detection_auc(a, bad, KINDS)["auc"] > 0.8  # all real men are recognisable


def test_broken_correlation_lowers_pair_trend(halves) -> None:
    a, b = halves
    shuffled = b.copy()
    shuffled["died"] = shuffled["died"].sample(frac=1, random_state=1).to_numpy()
    honest, broken = pair_trends(a, b, KINDS), pair_trends(a, shuffled, KINDS)
    assert broken["stage|died"] < honest["stage|died"] - 0.05


def test_missing_share_counts_in_column_shape(halves) -> None:
    a, b = halves
    no_missing = b.copy()
    no_missing["creatinine"] = no_missing["creatinine"].fillna(1.0)
    assert (
        column_shapes(a, no_missing, KINDS)["creatinine"]
        < column_shapes(a, b, KINDS)["creatinine"] - 0.05
    )


def test_tstr_matches_trtr_for_real_data_and_collapses_for_noise(halves, real) -> None:
    train, holdout = halves
    predictors = ["age", "sex", "creatinine", "stage", "ward"]
    same = tstr(
        train,
        holdout,
        real.iloc[:600],
        target="died",
        target_kind="categorical",
        predictors=predictors,
        kinds=KINDS,
    )
    assert same["trtr"] > 0.8 and abs(same["gap"]) < 1e-9
    assert set(same["models"]) == {"logistic_regression", "random_forest", "gradient_boosting"}
    noise = train.copy()
    noise["died"] = np.random.default_rng(12345).permutation(noise["died"].to_numpy())  # no signal
    bad = tstr(
        train,
        holdout,
        noise,
        target="died",
        target_kind="categorical",
        predictors=predictors,
        kinds=KINDS,
    )
    assert bad["tstr"] < 0.65 and bad["gap"] > 0.15


def test_trtr_is_trained_once_per_real_rows_with_the_same_scores(halves) -> None:
    from evaluation import utility

    train, holdout = halves
    args = {
        "target": "died",
        "target_kind": "categorical",
        "predictors": ["age", "sex", "creatinine", "stage"],
        "kinds": KINDS,
    }
    rng = np.random.default_rng(3)
    first, second = (train.sample(frac=1.0, replace=True, random_state=k) for k in (1, 2))
    utility._real_fits.clear()
    tstr(train, holdout, first, **args)
    kept = dict(utility._real_fits)
    assert len(kept) == 3  # one per model family
    warm = tstr(train, holdout, second, **args)
    assert dict(utility._real_fits) == kept  # nothing trained again on the real rows
    utility._real_fits.clear()
    cold = tstr(train, holdout, second, **args)
    assert warm["models"] == cold["models"] and warm["importance"] == cold["importance"]
    other = train.assign(age=train["age"] + rng.normal(0, 1, len(train)))  # other real rows
    tstr(other, holdout, second, **args)
    assert len(utility._real_fits) == 6


def test_numeric_target_uses_r2(halves) -> None:
    train, holdout = halves
    out = tstr(
        train,
        holdout,
        train,
        target="creatinine",
        target_kind="numeric",
        predictors=["age", "sex", "stage"],
        kinds=KINDS,
    )
    assert out["metric"] == "r2" and out["gap"] == pytest.approx(0.0)


def test_exact_copies_count_rows_equal_in_every_column(halves) -> None:
    train, _ = halves
    synth = train.iloc[:7].copy()
    synth.loc[synth.index[0], "age"] += 1  # no longer a copy
    assert exact_copies(train, synth) == 6
    as_float = train.iloc[:3].astype({"age": float})  # 70 == 70.0
    assert exact_copies(train, as_float) == 3
    assert len(set(row_hashes(train.iloc[:50]))) == 50


def test_dcr_share_flags_memorisation(halves, real) -> None:
    train, holdout = halves
    memorised = dcr(train, holdout, train.sample(300, random_state=0), KINDS)
    honest = dcr(
        train,
        holdout,
        make_patients(600, seed=9).assign(admitted=lambda d: pd.to_datetime(d["admitted"])),
        KINDS,
    )
    assert memorised["share"] > 0.95
    assert 0.35 < honest["share"] < 0.65


def test_profile_counts_duplicates_missing_outliers_and_associations(real) -> None:
    df = pd.concat([real, real.iloc[:5]], ignore_index=True)
    df.loc[600, "age"] = 500  # a row without a duplicate
    types = {
        "age": "integer",
        "sex": "categorical",
        "creatinine": "numeric",
        "stage": "categorical",
        "admitted": "datetime",
        "died": "boolean",
    }
    p = profile_table(df, types)
    assert p["rows"] == 1205 and p["duplicate_rows"] == 5
    assert p["column_profiles"]["creatinine"]["missing"] == df["creatinine"].isna().sum()
    assert (
        p["column_profiles"]["age"]["outliers_iqr"] >= 1
        and p["column_profiles"]["age"]["max"] == 500
    )
    shares = {t["value"]: t["share"] for t in p["column_profiles"]["sex"]["top"]}
    assert shares == pytest.approx(df["sex"].value_counts(normalize=True).to_dict())
    assoc = dict(zip(p["associations"]["columns"], p["associations"]["matrix"], strict=True))
    cols = p["associations"]["columns"]
    assert assoc["stage"][cols.index("died")] > 0.3  # stage drives death in this table
    assert "min_date" in p["column_profiles"]["admitted"]


def test_profile_does_not_count_missing_as_a_category(real) -> None:
    p = profile_table(real, {"ward": "categorical"})
    ward = p["column_profiles"]["ward"]
    assert ward["levels"] == ward["distinct"] == 4
    assert "(missing)" in {t["value"] for t in ward["top"]}


def test_membership_attack_finds_memorised_patients_only(halves) -> None:
    from evaluation.privacy import membership_inference

    train, holdout = halves
    leaked = membership_inference(train, holdout, train.sample(400, random_state=0), KINDS)
    fresh = make_patients(600, seed=9).assign(admitted=lambda d: pd.to_datetime(d["admitted"]))
    honest = membership_inference(train, holdout, fresh, KINDS)
    assert leaked["distance_auc"] > 0.8
    assert 0.4 < honest["distance_auc"] < 0.6


def test_coverage_sees_lost_categories_and_narrowed_ranges(halves) -> None:
    from evaluation.fidelity import coverage

    a, b = halves
    assert coverage(a, a, KINDS) == {c: 1.0 for c in KINDS}
    narrow = b.copy()
    narrow["age"] = narrow["age"].clip(40, 60)
    narrow["ward"] = narrow["ward"].replace({"icu": "general"})
    out = coverage(a, narrow, KINDS)
    span = a["age"].max() - a["age"].min()
    assert out["age"] == pytest.approx(20 / span)
    assert out["ward"] == pytest.approx(4 / 5)  # four of five labels (missing is one) remain
    assert out["sex"] == 1.0


def test_utility_reports_f1_mae_and_importance_agreement(halves, real) -> None:
    train, holdout = halves
    predictors = ["age", "sex", "creatinine", "stage", "ward"]
    common = dict(target="died", target_kind="categorical", predictors=predictors, kinds=KINDS)
    same = tstr(train, holdout, real.iloc[:600], **common)
    shuffled = train.copy()
    for col in predictors:
        shuffled[col] = shuffled[col].sample(frac=1, random_state=3).to_numpy()
    broken = tstr(train, holdout, shuffled, **common)
    assert 0.4 < same["trtr_f1"] <= 1.0 and same["tstr_f1"] == same["trtr_f1"]
    assert broken["tstr_f1"] < same["tstr_f1"] - 0.2
    assert same["importance"]["spearman"] == pytest.approx(1.0)
    assert broken["importance"]["spearman"] < 0.9
    assert max(same["importance"]["real"], key=same["importance"]["real"].get) in ("age", "stage")
    numeric = tstr(
        train,
        holdout,
        train,
        target="creatinine",
        target_kind="numeric",
        predictors=["age", "sex", "stage"],
        kinds=KINDS,
    )
    assert numeric["trtr_mae"] == numeric["tstr_mae"] > 0


def test_survival_target_scores_concordance(halves) -> None:
    train, holdout = halves
    rng = np.random.default_rng(0)

    def with_time(df: pd.DataFrame) -> pd.DataFrame:  # deaths come early, in proportion to age
        return df.assign(
            days=np.where(df["died"] == 1, 400 - 3 * df["age"], 900) + rng.integers(0, 50, len(df))
        )

    train, holdout = with_time(train), with_time(holdout)
    kinds = {**KINDS, "days": "numeric"}
    out = tstr(
        train,
        holdout,
        train,
        target="died",
        target_kind="categorical",
        predictors=["age", "sex", "creatinine", "stage", "ward"],
        kinds=kinds,
        survival_time="days",
    )
    assert out["trtr_cindex"] > 0.75 and out["tstr_cindex"] == out["trtr_cindex"]
    assert out["survival"]["trtr_cindex"] > 0.75 and out["survival"]["gap"] == 0.0


def test_every_headline_score_is_catalogued_with_a_direction_and_a_range(real) -> None:
    from evaluation.catalogue import SCORES, out_of_range
    from generators.schema import infer_spec
    from tasks.evaluate import score

    df = make_patients(900, seed=3).assign(days=lambda d: 100 + d["age"])
    spec = infer_spec(
        df,
        target="died",
        survival_time="days",
        quasi_identifiers=["age", "sex"],
        sensitive=["ward"],
    )
    train, holdout, synth = df.iloc[:400], df.iloc[400:600], df.iloc[600:]
    summary = score(
        train.reset_index(drop=True),
        holdout.reset_index(drop=True),
        synth.reset_index(drop=True),
        spec,
    )["summary"]
    assert out_of_range(summary) == []
    assert {"tstr_cindex", "k_anonymity", "attribute_inference_advantage"} <= set(summary)
    assert all(s.direction in ("higher", "lower", "near 0.5", "near 0") for s in SCORES.values())
    assert out_of_range({"dcr_share": 1.5, "made_up": 0.1}) == ["dcr_share", "made_up"]


def test_the_profile_names_empty_and_constant_columns() -> None:
    df = pd.DataFrame({"lab": [np.nan] * 4, "site": ["A", "A", None, "A"], "age": [50, 61, 72, 50]})
    p = profile_table(df, {"lab": "numeric", "site": "categorical", "age": "integer"})
    assert set(p["degenerate_columns"]) == {"lab", "site"}
    assert p["degenerate_columns"]["lab"].startswith("empty")
    assert (
        "constant" in p["degenerate_columns"]["site"]
        and "missing" in p["degenerate_columns"]["site"]
    )


def test_dcr_share_noise_is_the_spread_of_an_honest_generator_and_shrinks_with_size() -> None:
    """Train, holdout and 'synthetic' rows drawn from one population: the share scatters around
    0.5 by the stated two standard errors (the measured spread over 40 draws), and a memorising
    generator sits far above 0.5 + noise even on a 30-row holdout."""
    kinds = {"a": "numeric", "b": "numeric", "c": "categorical"}

    def draw(rng, m):  # noqa: ANN001
        return pd.DataFrame(
            {"a": rng.normal(size=m), "b": rng.gamma(2, size=m), "c": rng.choice(list("xyz"), m)}
        )

    spreads = {}
    for n in (30, 300):
        shares, noises = [], []
        for r in range(40):
            rng = np.random.default_rng(r)
            train, holdout, synth = draw(rng, 4 * n), draw(rng, n), draw(rng, 4 * n)
            result = dcr(train, holdout, synth, kinds, seed=r)
            shares.append(result["share"])
            noises.append(result["share_noise"])
        spreads[n] = float(np.mean(noises))
        assert 0.7 < 2 * np.std(shares) / spreads[n] < 1.4  # measured 0.97 (30), 0.84 (300)
        assert abs(np.mean(shares) - 0.5) < spreads[n] / 2
    assert 0.09 < spreads[30] < 0.16 and 0.03 < spreads[300] < 0.05
    rng = np.random.default_rng(99)
    train, holdout = draw(rng, 30), draw(rng, 30)
    memorised = dcr(train, holdout, pd.concat([train] * 4), kinds)
    assert memorised["share"] == 1.0 > 0.5 + memorised["share_noise"] + 0.2
