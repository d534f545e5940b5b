"""Self-contained HTML pages (inline SVG plots, no external assets) for people to read."""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1200px}
h1{font-size:1.5rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem} td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:right}
th{background:#f4f4f4} td.l,th.l{text-align:left} .cols{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #ddd;border-radius:6px;padding:.75rem;width:360px} .warn{color:#a40}
"""


def _svg(fig: plt.Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _column_plot(name: str, entry: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(3.6, 2.0))
    if "histogram" in entry:
        h = entry["histogram"]
        ax.stairs(h["counts"], h["edges"], fill=True, color="#4878a8")
    elif "top" in entry:
        top = entry["top"][:12][::-1]
        ax.barh([t["value"][:18] for t in top], [t["share"] for t in top], color="#4878a8")
        ax.set_xlabel("share")
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)
    return _svg(fig)


def _heatmap(assoc: dict[str, Any], title: str) -> str:
    cols, matrix = assoc["columns"], assoc["matrix"]
    size = max(3.0, 0.45 * len(cols) + 1.5)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    im = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(len(cols)), cols, rotation=90, fontsize=7)
    ax.set_yticks(range(len(cols)), cols, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.7)
    return _svg(fig)


def profile_html(profile: dict[str, Any], title: str) -> str:
    """The profile as one HTML page: overview, per-column cards with plots, associations."""
    cols = profile["column_profiles"]
    rows = []
    for name, e in cols.items():
        stats = (
            f"{_fmt(e.get('mean'))} ± {_fmt(e.get('std'))} [{_fmt(e.get('min'))}, {_fmt(e.get('max'))}]"
            if "mean" in e
            else f"{e.get('levels', 0)} levels"
        )
        outliers = _fmt(e["outliers_iqr"]) if "outliers_iqr" in e else ""
        rows.append(
            f"<tr><td class=l>{html.escape(name)}</td><td class=l>{e['type']}</td>"
            f"<td>{e['missing_share']:.1%}</td><td>{e['distinct']}</td><td class=l>{stats}</td><td>{outliers}</td></tr>"
        )
    cards = []
    for name, e in cols.items():
        if "top" in e:
            detail = "".join(
                f"<tr><td class=l>{html.escape(t['value'])}</td><td>{t['count']}</td><td>{t['share']:.1%}</td></tr>"
                for t in e["top"][:10]
            )
        else:
            keys = (
                "count",
                "mean",
                "std",
                "min",
                "q1",
                "median",
                "q3",
                "max",
                "skewness",
                "outliers_iqr",
                "min_date",
                "max_date",
            )
            detail = "".join(
                f"<tr><td class=l>{k}</td><td>{_fmt(e[k])}</td></tr>" for k in keys if k in e
            )
        cards.append(f"<div class=card>{_column_plot(name, e)}<table>{detail}</table></div>")
    warn = []
    if profile["duplicate_rows"]:
        warn.append(f"{profile['duplicate_rows']} duplicate rows")
    warn += [f"{n}: {what}" for n, what in profile.get("degenerate_columns", {}).items()]
    warn += [
        f"{n}: {e['missing_share']:.0%} missing"
        for n, e in cols.items()
        if e["missing_share"] >= 0.2
    ]
    warn += [
        f"{n}: {e['outliers_iqr']} IQR outliers"
        for n, e in cols.items()
        if e.get("outlier_share", 0) > 0.05
    ]
    warn_html = "".join(f"<li class=warn>{html.escape(w)}</li>" for w in warn) or "<li>none</li>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{profile["rows"]} rows, {profile["columns"]} columns, {profile["duplicate_rows"]} duplicate rows,
{profile["missing_cells_share"]:.1%} of cells missing.</p>
<h2>Worth a look</h2><ul>{warn_html}</ul>
<h2>Columns</h2><table><tr><th class=l>column</th><th class=l>type</th><th>missing</th><th>distinct</th>
<th class=l>mean ± sd [min, max] / levels</th><th>IQR outliers</th></tr>{"".join(rows)}</table>
<h2>Distributions</h2><div class=cols>{"".join(cards)}</div>
<h2>Associations</h2><p>Pearson r between numbers, Cramér's V between categories, correlation ratio η
between a number and a category.</p>{_heatmap(profile["associations"], "association")}
</body></html>"""


# -- the evaluation report --------------------------------------------------------------------
_REAL, _SYN, _HOLD = "#4878a8", "#e0813a", "#6a9f58"
REPORT_ROWS = 20_000  # rows a side drawn in plots and the association heatmap


def _marginal_plot(name: str, kind: str, real, synth) -> str:  # noqa: ANN001 - Series
    from evaluation.encoding import as_float, as_labels

    fig, ax = plt.subplots(figsize=(3.6, 2.0))
    if kind == "numeric":
        r, s = as_float(real), as_float(synth)
        r, s = r[~np.isnan(r)], s[~np.isnan(s)]
        if r.size:
            edges = np.histogram_bin_edges(r, bins=25)
            ax.hist(r, bins=edges, density=True, alpha=0.55, color=_REAL, label="real")
            ax.hist(
                np.clip(s, edges[0], edges[-1]),
                bins=edges,
                density=True,
                alpha=0.55,
                color=_SYN,
                label="synthetic",
            )
    else:
        pr = pd.Series(as_labels(real)).value_counts(normalize=True)
        ps = pd.Series(as_labels(synth)).value_counts(normalize=True)
        top = pr.index[:10]
        y = np.arange(len(top))
        ax.barh(y - 0.2, pr.reindex(top).to_numpy(), 0.4, color=_REAL, label="real")
        ax.barh(
            y + 0.2, ps.reindex(top, fill_value=0).to_numpy(), 0.4, color=_SYN, label="synthetic"
        )
        ax.set_yticks(y, [str(t)[:16] for t in top])
        ax.invert_yaxis()
    ax.set_title(name, fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    return _svg(fig)


def _bars(
    title: str,
    labels: list[str],
    series: dict[str, list[float]],
    colours: list[str],
    ylim: tuple[float, float] | None = (0.5, 1.0),
) -> str:
    fig, ax = plt.subplots(figsize=(4.8, 2.4))
    x = np.arange(len(labels))
    width = 0.8 / len(series)
    for i, ((name, values), colour) in enumerate(zip(series.items(), colours, strict=False)):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, color=colour)
    ax.set_xticks(x, labels, fontsize=7, rotation=30 if len(labels) > 5 else 0)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return _svg(fig)


def _projection(real_x: np.ndarray, synth_x: np.ndarray) -> str:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=0).fit(real_x)
    r, s = pca.transform(real_x), pca.transform(synth_x)
    fig, ax = plt.subplots(figsize=(4.2, 3.4))
    ax.scatter(r[:, 0], r[:, 1], s=3, alpha=0.35, color=_REAL, label="real")
    ax.scatter(s[:, 0], s[:, 1], s=3, alpha=0.35, color=_SYN, label="synthetic")
    ax.set_title("2-D projection (PCA fitted on real rows)", fontsize=9)
    ax.legend(fontsize=7, markerscale=3)
    ax.tick_params(labelsize=7)
    return _svg(fig)


def _distance_histogram(synth_d: np.ndarray, holdout_d: np.ndarray) -> str:
    fig, ax = plt.subplots(figsize=(4.2, 2.4))
    top = np.quantile(np.concatenate([synth_d, holdout_d]), 0.99) or 1.0
    edges = np.linspace(0, top, 30)
    ax.hist(
        np.clip(synth_d, 0, top),
        bins=edges,
        density=True,
        alpha=0.55,
        color=_SYN,
        label="synthetic → train",
    )
    ax.hist(
        np.clip(holdout_d, 0, top),
        bins=edges,
        density=True,
        alpha=0.55,
        color=_HOLD,
        label="holdout → train",
    )
    ax.set_title("distance to the closest training patient", fontsize=9)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)
    return _svg(fig)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _dp_words(dp: dict) -> str:
    """What a private fit spent and how: DP-SGD's noise and steps, or each noisy marginal."""
    if "measurements" in dp:  # the dp family: noisy marginals
        rows = "".join(
            f"<tr><td>{html.escape(m['what'])}</td><td>{m['mechanism']}</td>"
            f"<td>{m.get('sigma', float('nan')):.3g}</td><td>{m.get('cells', '')}</td>"
            f"<td>{m['rho'] / dp['rho']:.1%}</td></tr>"
            for m in dp["measurements"]
        )
        how = (
            f"The generator learnt from the real rows only through {len(dp['measurements'])} "
            f"measurements ({html.escape(dp['method'])}), each listed below with its Gaussian "
            "noise per cell (or the exponential mechanism that chose it) and its share of the "
            f"budget rho = {dp['rho']:.4g} (zCDP, {html.escape(dp['accountant'])}); "
            f"preprocessing: {html.escape(dp['preprocessing'])}. "
        )
        table = (
            "<table><tr><th>measurement</th><th>mechanism</th><th>noise sd</th><th>cells</th>"
            f"<th>share</th></tr>{rows}</table>"
        )
    else:  # DP-SGD
        how = (
            "The generator learnt from the real rows only through a critic trained with DP-SGD "
            f"(each patient's gradient clipped to {dp['max_grad_norm']:g}, Gaussian noise of "
            f"multiplier {dp['noise_multiplier']:.3g}, {dp['steps']} steps at sampling rate "
            f"{dp['sample_rate']:.3g}, accountant {html.escape(dp['accountant'])}); preprocessing: "
            f"{html.escape(dp['preprocessing'])}. "
        )
        table = ""
    return (
        f"<p><b>Differential privacy: (ε = {dp['epsilon']:.3g}, δ = {dp['delta']:.2g})</b>. "
        f"{how}Whatever else one learns from this synthetic "
        "data, the chance of any outcome changes by at most a factor e<sup>ε</sup> whether or "
        "not one patient was in the training data (except with probability δ). The removal "
        "of exact copies and the scores on this page look at the real rows again and are not "
        f"covered by that guarantee.</p>{table}"
    )


def _dcr_chance(summary: dict[str, Any]) -> str:
    """The DCR share's chance level at this holdout size, in words (empty when not measured)."""
    noise = summary.get("dcr_share_noise")
    if noise is None:
        return ""
    return (
        f"At these sizes an honest generator reaches up to {0.5 + noise:.3f} by chance (one half "
        "plus two standard errors); the gate holds the larger of that and its limit. "
    )


def _history_chance(nearest: dict[str, Any]) -> str:
    """The nearest-history share's chance level at these sizes, in words (empty when the run's
    metrics predate it)."""
    noise = nearest.get("share_noise")
    if noise is None:
        return ""
    return (
        f" Relabelling the real patients at random into training and holdout sets of these sizes "
        f"{nearest.get('relabellings', '')} times, the share of these synthetic patients averages "
        f"{nearest.get('share_null_mean', 0.5):.3f} and reaches {0.5 + noise:.3f} (one half plus "
        "two standard deviations) by chance alone: the gate holds the larger of that and its "
        "limit."
    )


def _more_privacy(metrics: dict[str, Any], summary: dict[str, Any]) -> str:
    """NNDR, the density attack, attribute inference and k-anonymity, in words and tables."""
    out = ""
    if metrics.get("dcr"):
        d = metrics["dcr"]
        out += (
            f"<p>Nearest-neighbour distance ratio: median {d['nndr_median']:.3f} for synthetic rows "
            f"against {d['nndr_median_holdout']:.3f} for unseen real patients. A ratio near 0 means a "
            "synthetic row sits on one training patient far more closely than on any other.</p>"
        )
    if metrics.get("membership_density"):
        m = metrics["membership_density"]
        out += (
            f"<p>Density attack (in the spirit of DOMIAS) AUC {m['density_auc']:.3f}: the attacker "
            "flags patients where the synthetic data is denser than the population "
            f"({m['reference_rows']} real reference rows, {m['attack_rows']} members and as many "
            "non-members). The gate holds the stronger of the two attacks: "
            f"{summary.get('membership_auc', float('nan')):.3f}.</p>"
        )
    if metrics.get("attribute_inference"):
        rows = [
            [col, a["members"], a["non_members"], a["baseline"], a["advantage"]]
            for col, a in metrics["attribute_inference"].items()
        ]
        out += (
            "<p>Attribute inference: an attacker who knows a patient's quasi-identifiers (or every "
            "other column) guesses each sensitive column from the nearest synthetic row. The "
            "advantage is how much better the guess is for training patients than for unseen ones; "
            "near 0, the synthetic data reveals what the population reveals, nothing about the "
            "patients in it.</p>"
            + _table(
                ["sensitive column", "members", "non-members", "guess the usual", "advantage"], rows
            )
        )
    if metrics.get("k_anonymity"):
        k = metrics["k_anonymity"]
        out += (
            f"<p>k-anonymity over the quasi-identifiers (numbers generalised to deciles): "
            f"k = {k['k_synthetic']} in the synthetic data, {k['k_real']} in the real data; "
            f"{k['small_group_share']:.1%} of synthetic rows fall in a group of fewer than "
            f"{k['small_group_size']} real patients.</p>"
        )
    return out


def _more_utility(utility: dict[str, Any]) -> str:
    """Every model family's scores, and whether the same columns matter on both sides."""
    keys = [k for k in next(iter(utility["models"].values())) if k.startswith(("trtr_", "tstr_"))]
    rows = [[name, *(m[k] for k in keys)] for name, m in utility["models"].items()]
    if utility.get("survival"):
        cox = utility["survival"]
        rows.append(["cox (concordance)", *(cox.get(k, "") if "cindex" in k else "" for k in keys)])
    imp = utility["importance"]
    top = sorted(imp["real"], key=imp["real"].get, reverse=True)[:10]
    words = (
        f"<p>Feature importance (random forest): rank agreement {imp['spearman']:.3f} between the "
        "models trained on real and on synthetic rows (Spearman; 1 = the same columns matter in "
        f"the same order). Training rows: {utility['training_rows']['real']} real, "
        f"{utility['training_rows']['synthetic']} synthetic.</p>"
    )
    bars = _bars(
        "feature importance",
        top,
        {"real": [imp["real"][c] for c in top], "synthetic": [imp["synthetic"][c] for c in top]},
        [_REAL, _SYN],
        ylim=None,
    )
    return _table(["model", *keys], rows) + words + bars


def _utility_section(utility: dict[str, Any], where: str) -> str:
    """TRTR and TSTR bars per model family, then the other utility figures."""
    models = utility["models"]
    bars = _bars(
        f"{utility['metric'].upper()} {where}",
        list(models),
        {
            "trained on real (TRTR)": [m["trtr"] for m in models.values()],
            "trained on synthetic (TSTR)": [m["tstr"] for m in models.values()],
        },
        [_REAL, _SYN],
    )
    return bars + _more_utility(utility)


def evaluation_html(
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    synth: pd.DataFrame,
    kinds: dict[str, str],
    metrics: dict[str, Any],
    gate: dict[str, Any],
    title: str,
) -> str:
    """One self-contained page: the verdict, what differs most, plots, and what privacy means."""
    from sklearn.neighbors import NearestNeighbors

    from evaluation.encoding import TableEncoder
    from evaluation.profile import associations

    summary = metrics["summary"]
    shapes = sorted(metrics["column_shapes"].items(), key=lambda kv: kv[1])
    pairs = sorted(metrics["pair_trends"].items(), key=lambda kv: kv[1])
    verdict = "PASSED" if gate["passed"] else "REJECTED"
    reasons = (
        "".join(f"<li class=warn>{html.escape(r)}</li>" for r in gate["reasons"])
        or "<li>every limit holds</li>"
    )
    worst_cols = ", ".join(f"<b>{html.escape(c)}</b> ({v:.2f})" for c, v in shapes[:3])
    worst_pairs = ", ".join(
        f"<b>{html.escape(p.replace('|', ' × '))}</b> ({v:.2f})" for p, v in pairs[:5]
    )
    rows = "".join(
        f"<tr><td class=l>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in summary.items()
    )

    # Plots and the association heatmap draw at most REPORT_ROWS rows a side (stated on the page).
    rng = np.random.default_rng(0)
    pick = lambda df, n: df.iloc[rng.choice(len(df), min(len(df), n), replace=False)]  # noqa: E731
    train_view, synth_view = pick(train, REPORT_ROWS), pick(synth, REPORT_ROWS)
    real_assoc = associations(train_view, kinds)
    synth_assoc = associations(synth_view, kinds)
    diff = {
        "columns": real_assoc["columns"],
        "matrix": (np.asarray(synth_assoc["matrix"]) - np.asarray(real_assoc["matrix"])).tolist(),
    }

    enc = TableEncoder.fit(train, kinds, scaling="range")
    real_x, synth_x = enc.transform(pick(train, 3000)), enc.transform(pick(synth, 3000))
    privacy_plot, privacy_words = (
        "",
        "<p>No holdout was given: distance-based privacy was not measured.</p>",
    )
    if holdout is not None:
        index = NearestNeighbors(n_neighbors=1).fit(enc.transform(pick(train, len(holdout))))
        d_syn = index.kneighbors(synth_x)[0][:, 0]
        d_hold = index.kneighbors(enc.transform(pick(holdout, 3000)))[0][:, 0]
        privacy_plot = _distance_histogram(d_syn, d_hold)
        privacy_words = (
            f"<p>DCR share {summary.get('dcr_share', float('nan')):.3f}: the share of synthetic rows whose closest "
            "real patient is in the training set rather than in the equally large holdout. A generator that "
            "learnt the population, not the patients, gives about 0.5; memorisation pushes it towards 1. "
            f"{_dcr_chance(summary)}"
            f"Membership-attack AUC {summary.get('membership_auc', float('nan')):.3f}: how well an attacker holding the "
            "synthetic data tells training patients from others by their distance to it (0.5 = no better than a "
            f"coin). {summary.get('exact_copies', 0)} synthetic rows copy a training row exactly. If the two "
            "histograms below overlap, synthetic rows are no closer to training patients than unseen patients are.</p>"
        )
    privacy_words += _more_privacy(metrics, summary)
    if metrics.get("differential_privacy"):
        privacy_words = _dp_words(metrics["differential_privacy"]) + privacy_words
    utility_plot = ""
    if metrics.get("utility"):
        utility_plot = _utility_section(metrics["utility"], "on the real holdout")
    marginals = "".join(
        f"<div class=card>{_marginal_plot(c, k, train_view[c], synth_view[c])}<p>similarity {metrics['column_shapes'][c]:.3f}</p></div>"
        for c, k in kinds.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in metrics.get("notes", []))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Verdict: {verdict}</h2><ul>{reasons}</ul>
<p>{metrics["rows"]["synthetic"]} synthetic rows compared with {metrics["rows"]["train"]} real training rows
{"" if holdout is None else f"and {metrics['rows']['holdout']} real holdout rows the generator never saw"}.
{f"Plots draw a random {REPORT_ROWS} rows a side; every figure in the tables uses the rows stated in the notes. " if max(len(train), len(synth)) > REPORT_ROWS else ""}Columns that differ most: {worst_cols}. Column pairs whose relationship differs most: {worst_pairs}.
Detection AUC {summary["detection_auc"]:.3f}: a gradient-boosting classifier tells real from synthetic rows
that well (0.5 = not at all).</p>
<table>{rows}</table>{"<ul>" + notes + "</ul>" if notes else ""}
<h2>Privacy</h2>{privacy_words}{privacy_plot}
<h2>Utility</h2><p>Models trained on synthetic rows and tested on real holdout patients (TSTR), next to the
same models trained on the real training rows (TRTR).</p>{utility_plot or "<p>No target: not measured.</p>"}
<h2>Columns, real vs synthetic</h2><div class=cols>{marginals}</div>
<h2>Relationships</h2><p>Synthetic minus real association (Pearson r, Cramér's V, η): red where the
synthetic data overstates a relationship, blue where it understates it.</p>
<div class=cols>{_heatmap(diff, "association difference")}{_projection(real_x, synth_x)}</div>
</body></html>"""


# -- the evaluation report of patient histories -------------------------------------------------
def _trajectory_band(name: str, real: dict[str, Any], synth: dict[str, Any]) -> str:
    """Median and quartiles by visit number, real against synthetic (from sequence_profile)."""
    fig, ax = plt.subplots(figsize=(3.6, 2.2))
    for entry, colour, label in ((real, _REAL, "real"), (synth, _SYN, "synthetic")):
        rows = entry.get("by_visit", []) if entry else []
        if not rows:
            continue
        x = [r["visit"] for r in rows]
        ax.plot(x, [r["median"] for r in rows], color=colour, label=f"{label} median")
        ax.fill_between(
            x, [r["q1"] for r in rows], [r["q3"] for r in rows], color=colour, alpha=0.25
        )
    ax.set_xlabel("visit number", fontsize=7)
    ax.set_title(f"{name}: median and quartiles by visit", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    return _svg(fig)


def sequence_evaluation_html(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synth: pd.DataFrame,
    roles: Any,  # evaluation.timeseries.Roles
    metrics: dict[str, Any],
    gate: dict[str, Any],
    title: str,
) -> str:
    """The report of a patient-history run: verdict, scores, trajectories real vs synthetic,
    visits and gaps, marginals, autocorrelation, utility and privacy in words."""
    import base64

    from evaluation.timeseries import _first, _ordered, sequence_profile, trajectory_plot

    summary = metrics["summary"]
    verdict = "PASSED" if gate["passed"] else "REJECTED"
    reasons = (
        "".join(f"<li class=warn>{html.escape(r)}</li>" for r in gate["reasons"])
        or "<li>every limit holds</li>"
    )
    rows = "".join(
        f"<tr><td class=l>{html.escape(k)}</td><td>{_fmt(v)}</td></tr>" for k, v in summary.items()
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in metrics.get("notes", []))
    shapes = metrics["column_shapes"]
    worst = ", ".join(
        f"<b>{html.escape(c)}</b> ({v:.2f})"
        for c, v in sorted(shapes.items(), key=lambda kv: kv[1])[:3]
    )
    real_profile, synth_profile = sequence_profile(train, roles), sequence_profile(synth, roles)
    bands = "".join(
        f"<div class=card>{_trajectory_band(c, real_profile['trajectories'][c], synth_profile['trajectories'].get(c, {}))}</div>"
        for c in list(real_profile["trajectories"])[:9]
    )
    lines = ""
    if real_profile["trajectories"]:
        png = base64.b64encode(trajectory_plot(train, synth, roles, patients=15)).decode()
        lines = f'<img alt="trajectories" src="data:image/png;base64,{png}">'

    real_o, synth_o = _ordered(train, roles), _ordered(synth, roles)

    def derived(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        codes = pd.factorize(df[roles.id])[0]
        t = pd.to_numeric(df[roles.time], errors="coerce").to_numpy(dtype=float)
        later = np.r_[False, codes[1:] == codes[:-1]]
        return pd.Series(np.bincount(codes)), pd.Series((t - np.r_[0.0, t[:-1]])[later])

    (rv, rg), (sv, sg) = derived(real_o), derived(synth_o)
    cards = [
        (_marginal_plot("visits per patient", "numeric", rv, sv), shapes.get("visits per patient")),
        (_marginal_plot("gap between visits", "numeric", rg, sg), shapes.get("gap between visits")),
    ]
    real_first, synth_first = _first(real_o, roles), _first(synth_o, roles)
    cards += [
        (_marginal_plot(c, roles.kinds[c], real_first[c], synth_first[c]), shapes.get(c))
        for c in roles.static
    ]
    cards += [
        (_marginal_plot(c, roles.kinds[c], real_o[c], synth_o[c]), shapes.get(c))
        for c in roles.temporal
    ]
    marginals = "".join(
        f"<div class=card>{plot}<p>similarity {'n/a' if v is None else f'{v:.3f}'}</p></div>"
        for plot, v in cards
    )
    auto = metrics.get("autocorrelation") or {"by_column": {}}
    acf_rows = [
        [c, *(f"{r:.3f} / {s:.3f}" for r, s in zip(e["real"], e["synthetic"], strict=True))]
        for c, e in auto["by_column"].items()
    ]
    acf = (
        _table(["measurement", "lag 1 real / synthetic", "lag 2", "lag 3"], acf_rows)
        if acf_rows
        else "<p>No numeric measurement.</p>"
    )
    utility_plot = "<p>No target: not measured.</p>"
    if metrics.get("utility"):
        utility_plot = _utility_section(
            metrics["utility"], f"of {html.escape(str(roles.target))} on real holdout patients"
        )
    predictive = metrics.get("predictive")
    predictive_words = (
        f"<p>Predictive score: a GRU trained on synthetic histories predicts each real holdout "
        f"patient's next visit with mean absolute error {predictive['synthetic']:.3f} (standardised "
        f"units); trained on real patients, {predictive['real']:.3f}.</p>"
        if predictive
        else ""
    )
    nearest = metrics["nearest_history"]
    patients = metrics["patients"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{html.escape(title)}</h1>
<h2>Verdict: {verdict}</h2><ul>{reasons}</ul>
<p>{patients["synthetic"]} synthetic patients ({metrics["rows"]["synthetic"]} visits) compared with
{patients["train"]} real training patients and {patients["holdout"]} real holdout patients the generator
never saw. Discriminative score {summary["discriminative_score"]:.3f}: a recurrent classifier tells real from
synthetic patients with accuracy {metrics["discriminative"]["accuracy"]:.3f} on patients it did not train
on (score = |accuracy - 0.5|; 0 = not at all). Marginals that differ most: {worst}.</p>
<table>{rows}</table>{"<ul>" + notes + "</ul>" if notes else ""}
<h2>Trajectories</h2><p>Per measurement, the median and quartiles at each visit number, real against
synthetic, then single patients' trajectories over time.</p><div class=cols>{bands}</div>{lines}
{predictive_words}<h3>Autocorrelation within patients</h3>{acf}
<h2>Utility</h2><p>Each patient summarised in one row (static columns; per measurement its last, mean,
minimum, maximum and slope; visits and follow-up); models trained on synthetic patients and tested on real
holdout patients (TSTR), next to the same models trained on real ones (TRTR).</p>{utility_plot}
<h2>Privacy</h2><p>Nearest-history share {nearest["share"]:.3f}: the share of synthetic patients whose
closest real history (static values, visit times and measurements, standardised) belongs to a training
patient rather than to one of as many holdout patients (0.5 = no memorisation).{_history_chance(nearest)} Membership-attack AUC
{nearest["membership_auc"]:.3f}: how well the distance to the nearest synthetic history tells training
patients from holdout ones (0.5 = a coin). {summary["exact_copies"]} synthetic histories copy a training
patient's whole history.</p>
<h2>Visits, gaps and columns, real vs synthetic</h2><div class=cols>{marginals}</div>
</body></html>"""


def sequence_profile_section(profile: dict[str, Any]) -> str:
    """An HTML section for ``evaluation.timeseries.sequence_profile``: visits per patient, gaps
    between visits, follow-up, and each measurement's trajectory by visit number."""

    def spread_row(name: str, e: dict[str, Any]) -> list[Any]:
        if not e.get("count"):
            return [name, 0, "", "", "", ""]
        return [name, e["count"], e["min"], e["median"], f"{e['q1']:.4g}–{e['q3']:.4g}", e["max"]]

    table = _table(
        ["", "count", "min", "median", "IQR", "max"],
        [
            spread_row("visits per patient", profile["visits_per_patient"]),
            spread_row(
                f"gap between visits ({profile['time_column']})", profile["gap_between_visits"]
            ),
            spread_row(f"follow-up ({profile['time_column']})", profile["follow_up"]),
        ],
    )
    plots = "".join(
        f"<div class=card>{_column_plot(name, profile[key])}</div>"
        for name, key in (
            ("visits per patient", "visits_per_patient"),
            ("gap between visits", "gap_between_visits"),
        )
        if profile[key].get("count")
    )
    bands = "".join(
        f"<div class=card>{_trajectory_band(c, e, {})}<p>{e['missing_share']:.1%} of visits "
        "without a value</p></div>"
        for c, e in profile["trajectories"].items()
    )
    return f"""<h2>Patient histories</h2><p>{profile["patients"]} patients, {profile["visits"]} visits
(time column <b>{html.escape(profile["time_column"])}</b>).</p>{table}<div class=cols>{plots}</div>
<h3>Trajectories: median and quartiles by visit number</h3><div class=cols>{bands}</div>"""
