"""Self-contained HTML pages (inline SVG plots, no external assets) for people to read."""

from __future__ import annotations

import html
import io
from typing import Any

import matplotlib

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
