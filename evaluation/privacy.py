"""Privacy: are synthetic rows copies of, or suspiciously close to, the patients they learnt from?

- exact copies: synthetic rows identical to a training row in every column.
- DCR share: for each synthetic row, is its nearest training row closer than its nearest holdout
  row? Train and holdout come from the same population and are compared at equal size, so a
  generator that does not memorise gives about 0.5; well above 0.5 means it sits on its training
  patients.
  How far above 0.5 is noise depends on the sizes: ``share_noise`` is two standard errors of the
  share when the training and holdout labels of the reference rows are exchangeable (no
  generator preference for the rows it learnt from), given these synthetic rows. On a 27-row
  validation split it is about 0.1, on 2,000 reference rows a hundredth.
- NNDR: nearest / second-nearest training distance of each synthetic row. Near 0, a row sits on
  one patient; real unseen (holdout) rows give the honest baseline.
- membership inference: a distance attack and a density attack (in the spirit of DOMIAS); ROC
  AUC 0.5 means the attacker cannot tell training patients from others.
- attribute inference: an attacker who knows some columns of a patient guesses a sensitive one
  from the nearest synthetic row; the advantage on training patients over unseen ones is the risk.
- k-anonymity over the quasi-identifiers, and the share of synthetic rows pointing at a group of
  fewer than k real patients.

Nearest neighbours are exact (brute force, in batches); the row caps below keep 100k-row tables
within the time budget and every result states how many rows it scored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from evaluation.encoding import Kind, TableEncoder, as_float, as_labels

DCR_ROWS = 20_000  # synthetic rows scored; larger outputs are subsampled (stated in the result)
DENSITY_ROWS = 10_000  # rows per density estimate (synthetic, reference)
ATTACK_ROWS = 5_000  # target patients per side (members, non-members)
NNDR_BASELINE_ROWS = 5_000  # holdout rows whose NNDR is the honest baseline
# Kernel width as a fraction of Scott's rule: memorisation is local, and on flchain a copying
# generator scores AUC 0.75 at 0.3x against 0.67 at Scott's width (an honest one 0.50 at both).
BANDWIDTH_FACTOR = 0.3
SMALL_GROUP = 5  # k below which a quasi-identifier group is a re-identification risk


def _neighbours(points: np.ndarray, k: int = 1) -> NearestNeighbors:
    return NearestNeighbors(n_neighbors=k, algorithm="brute").fit(points)


_NAN = np.float64(-1.2345e300)  # stands for a missing number inside the hash


def row_hashes(df: pd.DataFrame) -> np.ndarray:
    """One hash per row, equal for equal values whatever the dtype (1 == 1.0, NaN == NaN)."""
    parts = {}
    for col in df.columns:
        series = df[col]
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.astype("datetime64[ns]")
            ns = values.to_numpy().astype("int64").astype(np.float64)
            parts[col] = np.where(values.isna().to_numpy(), _NAN, ns)
        elif pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(
            series.dtype
        ):
            numbers = series.astype("float64").to_numpy(dtype=np.float64, na_value=np.nan)
            parts[col] = np.where(np.isnan(numbers), _NAN, numbers)
        else:
            parts[col] = series.astype(object).where(series.notna(), None).astype(str).to_numpy()
    return pd.util.hash_pandas_object(pd.DataFrame(parts), index=False).to_numpy()


def history_hashes(df: pd.DataFrame, id_column: str, time_column: str) -> pd.Series:
    """One hash per patient of their whole history (every column but the id, visits in time
    order), indexed by patient id: equal histories hash equal whatever their ids."""
    ordered = df.sort_values([id_column, time_column], kind="stable")
    rows = row_hashes(ordered.drop(columns=[id_column])).astype(np.uint64)
    codes, patients = pd.factorize(ordered[id_column])
    lengths = np.bincount(codes)
    starts = np.cumsum(lengths) - lengths
    position = np.arange(len(rows)) - np.repeat(starts, lengths)
    # a fixed odd multiplier per visit position (so order matters), sums wrap modulo 2**64
    weights = np.random.default_rng(20_261_122).integers(
        1, 2**63, size=int(lengths.max()), dtype=np.uint64
    ) | np.uint64(1)
    mixed = rows * weights[position]
    return pd.Series(np.add.reduceat(mixed, starts) + lengths.astype(np.uint64), index=patients)


def exact_copies(train: pd.DataFrame, synth: pd.DataFrame) -> int:
    """How many synthetic rows equal some training row in every shared column."""
    cols = [c for c in train.columns if c in synth.columns]
    return int(np.isin(row_hashes(synth[cols]), row_hashes(train[cols])).sum())


def _encoded_references(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    seed: int,
    max_rows: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train and holdout at equal size (so 0.5 is the honest baseline) and at most ``max_rows``
    synthetic rows, in one range-scaled space fitted on the training rows."""
    rng = np.random.default_rng(seed)
    n_ref = min(len(train), len(holdout))
    tr = train.iloc[rng.choice(len(train), n_ref, replace=False)]
    ho = holdout.iloc[rng.choice(len(holdout), n_ref, replace=False)]
    sy = synth.iloc[rng.choice(len(synth), min(len(synth), max_rows), replace=False)]
    enc = TableEncoder.fit(train, kinds, scaling="range")
    return enc.transform(tr), enc.transform(ho), enc.transform(sy)


def dcr(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    max_rows: int = DCR_ROWS,
) -> dict[str, float]:
    x_tr, x_ho, x_sy = _encoded_references(train, holdout, synth, kinds, seed, max_rows)
    train_index = _neighbours(x_tr, 2)
    d_tr2, i_tr2 = train_index.kneighbors(x_sy)
    d_tr = d_tr2[:, 0]
    d_ho, i_ho = (a[:, 0] for a in _neighbours(x_ho).kneighbors(x_sy))
    closer = (d_tr < d_ho).mean() + 0.5 * (d_tr == d_ho).mean()
    # each synthetic row's nearest reference among the pooled rows (training rows first)
    nearest = np.where(d_tr <= d_ho, i_tr2[:, 0], len(x_tr) + i_ho)
    # the baseline NNDR: holdout patients against the training rows
    ho2 = train_index.kneighbors(x_ho[:NNDR_BASELINE_ROWS])[0]
    return {
        "share": float(closer),
        "share_noise": share_noise(nearest, len(x_tr), len(x_sy)),
        "median_distance_train": float(np.median(d_tr)),
        "median_distance_holdout": float(np.median(d_ho)),
        "nndr_median": float(np.median(_ratio(d_tr2))),
        "nndr_median_holdout": float(np.median(_ratio(ho2))),
        "reference_rows": len(x_tr),
        "synthetic_rows_scored": len(x_sy),
    }


def share_noise(nearest: np.ndarray, n_ref: int, n_synth: int) -> float:
    """Two standard errors of the DCR share under exchangeable labels.

    ``nearest`` holds, for each synthetic row, the index of its nearest row among the ``2 *
    n_ref`` pooled reference rows (training rows first). A synthetic row counts as closer to
    training when that row is a training row, so the share is the summed synthetic counts of the
    ``n_ref`` reference rows labelled training. If the labels carry no information, those are a
    random half of the pool, and the share has mean 1/2 and the variance of a sample of ``n_ref``
    out of ``2 * n_ref`` counts without replacement: ``n_ref * var(counts) * n_ref /
    (2 * n_ref - 1) / n_synth**2``. Ties between an equally near training and holdout row, which
    the share counts as one half, are given to one of them here: a little wider, never narrower.
    """
    if n_ref < 1 or n_synth < 1:
        return 0.0
    counts = np.bincount(nearest, minlength=2 * n_ref).astype(np.float64)
    pool = 2 * n_ref
    variance = n_ref * counts.var() * (pool - n_ref) / max(pool - 1, 1) / n_synth**2
    return float(2.0 * np.sqrt(variance))


def _ratio(d2: np.ndarray) -> np.ndarray:
    """Nearest over second-nearest distance; two equal nearest rows give 1, a copy gives 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(d2[:, 1] > 0, d2[:, 0] / d2[:, 1], 1.0)


def membership_inference(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    max_rows: int = DCR_ROWS,
) -> dict[str, float]:
    """A distance-based membership-inference attack: the attacker, holding the synthetic data,
    guesses that a patient was in the training set when a synthetic row lies close to them.

    Members are training rows, non-members the holdout (equal numbers, at most
    ``2 * ATTACK_ROWS`` each); the attack's ROC AUC is
    0.5 when synthetic rows are no closer to members than to non-members, 1.0 when they give
    every member away.
    """
    members, others, x_sy = _encoded_references(train, holdout, synth, kinds, seed, max_rows)
    members, others = members[: 2 * ATTACK_ROWS], others[: 2 * ATTACK_ROWS]
    index = _neighbours(x_sy)
    d_members = index.kneighbors(members)[0][:, 0]
    d_others = index.kneighbors(others)[0][:, 0]
    labels = np.concatenate([np.ones(len(members)), np.zeros(len(others))])
    auc = roc_auc_score(labels, -np.concatenate([d_members, d_others]))
    return {"distance_auc": float(auc), "reference_rows": len(members)}


def _log_kde(points: np.ndarray, queries: np.ndarray, bandwidth: float) -> np.ndarray:
    """Log density of a Gaussian kernel density estimate (up to a shared constant), in batches."""
    sq_points = (points**2).sum(1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), 1024):
        q = queries[start : start + 1024]
        d2 = (q**2).sum(1)[:, None] + sq_points[None, :] - 2 * q @ points.T
        z = -np.maximum(d2, 0) / (2 * bandwidth**2)
        top = z.max(1)
        out[start : start + 1024] = top + np.log(np.exp(z - top[:, None]).sum(1))
    return out - np.log(len(points))


def density_membership_inference(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    *,
    seed: int = 0,
    components: int = 10,
) -> dict[str, float]:
    """A density attack in the spirit of DOMIAS (van Breugel et al. 2023): a patient is a likely
    member where the synthetic data is denser than the population, log p_synth(x) - log p_ref(x).

    Half the holdout is the attacker's reference sample of the population, the other half the
    non-members; as many training rows are the members. Densities are Gaussian kernel estimates
    in a PCA space of the encoded rows (whitened, fitted on the reference sample), with a kernel
    narrower than Scott's rule (``BANDWIDTH_FACTOR``).
    """
    rng = np.random.default_rng(seed)
    half = len(holdout) // 2
    if half < 10:
        raise ValueError(f"the density attack needs at least 20 holdout rows, got {len(holdout)}")
    shuffled = holdout.iloc[rng.permutation(len(holdout))]
    reference, others = shuffled.iloc[:half], shuffled.iloc[half:]
    n = min(len(others), len(train), ATTACK_ROWS)
    others = others.iloc[:n]
    members = train.iloc[rng.choice(len(train), n, replace=False)]
    reference = reference.iloc[: min(len(reference), DENSITY_ROWS)]
    sy = synth.iloc[rng.choice(len(synth), min(len(synth), DENSITY_ROWS), replace=False)]

    enc = TableEncoder.fit(reference, kinds)
    x_ref = enc.transform(reference)
    pca = PCA(n_components=min(components, x_ref.shape[1], len(x_ref) - 1), random_state=seed)
    pca.fit(x_ref)
    scale = np.sqrt(pca.explained_variance_) + 1e-9

    def project(df: pd.DataFrame) -> np.ndarray:
        return pca.transform(enc.transform(df)) / scale

    z_ref, z_syn = project(reference), project(sy)
    queries = np.concatenate([project(members), project(others)])
    dims = z_ref.shape[1]

    def bandwidth(n: int) -> float:
        return BANDWIDTH_FACTOR * n ** (-1 / (dims + 4))

    score = _log_kde(z_syn, queries, bandwidth(len(z_syn))) - _log_kde(
        z_ref, queries, bandwidth(len(z_ref))
    )
    labels = np.concatenate([np.ones(n), np.zeros(n)])
    return {
        "density_auc": float(roc_auc_score(labels, score)),
        "attack_rows": int(n),
        "reference_rows": len(z_ref),
        "synthetic_rows": len(z_syn),
        "components": int(dims),
    }


def attribute_inference(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    sensitive: list[str],
    known: list[str] | None = None,
    *,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """For each sensitive column: an attacker knows the ``known`` columns of a patient (the
    quasi-identifiers, or else every column that is not sensitive) and guesses the sensitive value from the
    nearest synthetic row. A guess is right when it equals a category, or lies within 5 % of the
    real range of a number.

    ``members``/``non_members``: success rates on training and on unseen patients; ``baseline``:
    guessing the most common value (or the median); ``advantage``: members - non_members, the
    part of the risk that comes from the patient having been in the training data (0 is ideal).
    """
    rng = np.random.default_rng(seed)
    n = min(len(train), len(holdout), ATTACK_ROWS)
    members = train.iloc[rng.choice(len(train), n, replace=False)]
    others = holdout.iloc[rng.choice(len(holdout), n, replace=False)]
    sy = synth.iloc[rng.choice(len(synth), min(len(synth), DCR_ROWS), replace=False)]
    results = {}
    for col in sensitive:
        cols = [c for c in (known or kinds) if c != col and c in kinds and c not in sensitive]
        if not cols:
            raise ValueError(f"attribute inference on {col!r}: no known columns to attack with")
        enc = TableEncoder.fit(train, {c: kinds[c] for c in cols}, scaling="range")
        index = _neighbours(enc.transform(sy))
        categorical = kinds[col] == "categorical"
        values = as_labels if categorical else as_float
        truth = {k: values(df[col]) for k, df in (("m", members), ("o", others))}
        pool = values(sy[col])
        real = values(train[col])
        if categorical:
            common, tol = pd.Series(real).mode().iloc[0], None
        else:
            finite = real[np.isfinite(real)]
            common = float(np.median(finite)) if finite.size else 0.0
            tol = 0.05 * (float(np.ptp(finite)) if finite.size else 0.0) or 1e-9
        guesses = {
            k: pool[index.kneighbors(enc.transform(df))[1][:, 0]]
            for k, df in (("m", members), ("o", others))
        }
        m_rate = _hit_rate(guesses["m"], truth["m"], tol)
        o_rate = _hit_rate(guesses["o"], truth["o"], tol)
        base = _hit_rate(np.full(n, common, dtype=pool.dtype), truth["o"], tol)
        results[col] = {
            "members": m_rate,
            "non_members": o_rate,
            "baseline": base,
            "advantage": m_rate - o_rate,
            "known_columns": len(cols),
        }
    return results


def _hit_rate(guess: np.ndarray, true: np.ndarray, tol: float | None) -> float:
    """Share of right guesses: equal labels, or numbers within ``tol`` (missing matches missing)."""
    if tol is None:
        return float(np.mean(guess == true))
    both_missing = np.isnan(guess) & np.isnan(true)
    return float(np.mean(both_missing | (np.abs(guess - true) <= tol)))


def _qi_codes(real: pd.DataFrame, df: pd.DataFrame, kinds: Mapping[str, Kind], qis: list[str]):  # noqa: ANN202
    """One label per row for its quasi-identifier group: categories as they are, numbers with
    more than 20 real values binned at the real deciles (as a release would generalise them)."""
    parts = []
    for col in qis:
        if kinds[col] == "categorical":
            parts.append(as_labels(df[col]))
            continue
        r, x = as_float(real[col]), as_float(df[col])
        finite = r[np.isfinite(r)]
        if np.unique(finite).size > 20:
            edges = np.unique(np.quantile(finite, np.linspace(0, 1, 11)[1:-1]))
            x = np.where(np.isnan(x), np.nan, np.searchsorted(edges, x, side="right"))
        parts.append(np.where(np.isnan(x), "nan", x.astype(str)))
    return pd.Series(["|".join(t) for t in zip(*parts, strict=True)], index=df.index)


def k_anonymity(
    train: pd.DataFrame,
    synth: pd.DataFrame,
    kinds: Mapping[str, Kind],
    quasi_identifiers: list[str],
    *,
    small: int = SMALL_GROUP,
) -> dict[str, float]:
    """k-anonymity over the quasi-identifiers: the smallest group of rows sharing their values,
    in the synthetic and in the real training data; and the share of synthetic rows whose group
    holds between 1 and ``small - 1`` real patients (a row that points at a few real people)."""
    if not quasi_identifiers:
        raise ValueError("k-anonymity needs quasi-identifier columns (spec: quasi_identifiers)")
    real_groups = _qi_codes(train, train, kinds, quasi_identifiers)
    syn_groups = _qi_codes(train, synth, kinds, quasi_identifiers)
    real_counts = real_groups.value_counts()
    in_real = syn_groups.map(real_counts).fillna(0).to_numpy()
    return {
        "k_synthetic": int(syn_groups.value_counts().min()),
        "k_real": int(real_counts.min()),
        "small_group_share": float(((in_real > 0) & (in_real < small)).mean()),
        "small_group_size": small,
        "groups_real": len(real_counts),
    }
