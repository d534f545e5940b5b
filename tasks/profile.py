"""Step 2: profile the validated input (JSON + HTML page + a Prefect artifact)."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from evaluation.profile import profile_table
from evaluation.report import profile_html, sequence_profile_section
from evaluation.timeseries import sequence_profile
from generators.schema import DatasetSpec
from tasks import storage
from tasks.common import TASK_OPTIONS, run_path


def profile_markdown(profile: dict, title: str) -> str:
    lines = [
        f"# {title}",
        f"{profile['rows']} rows, {profile['columns']} columns, {profile['duplicate_rows']} duplicate rows, "
        f"{profile['missing_cells_share']:.1%} cells missing.",
        "",
        "| column | type | missing | distinct | summary |",
        "|---|---|---:|---:|---|",
    ]
    for name, e in profile["column_profiles"].items():
        if "mean" in e:
            summary = f"median {e['median']:.4g} (IQR {e['q1']:.4g}–{e['q3']:.4g}), {e['outliers_iqr']} outliers"
        elif "top" in e and e["top"]:
            summary = ", ".join(f"{t['value']} {t['share']:.0%}" for t in e["top"][:4])
        else:
            summary = ""
        lines.append(
            f"| {name} | {e['type']} | {e['missing_share']:.1%} | {e['distinct']} | {summary} |"
        )
    return "\n".join(lines)


def sequence_markdown(seq: dict) -> str:
    visits, gaps = seq["visits_per_patient"], seq["gap_between_visits"]
    lines = [
        "",
        f"**Patient histories**: {seq['patients']} patients, {seq['visits']} visits; visits per "
        f"patient median {visits['median']:.4g} (range {visits['min']:.4g}–{visits['max']:.4g})",
    ]
    if gaps.get("count"):
        lines[-1] += (
            f"; gap between visits median {gaps['median']:.4g} {seq['time_column']} "
            f"(IQR {gaps['q1']:.4g}–{gaps['q3']:.4g})"
        )
    return "\n".join(lines) + "."


@task(name="profile", **TASK_OPTIONS)
def profile(run_url: str, spec: DatasetSpec) -> str:
    df = storage.read_parquet(run_path(run_url, "validated"))
    result = profile_table(df, {c.name: c.type for c in spec.columns})
    page = profile_html(result, f"Profile of {spec.name}")
    markdown = profile_markdown(result, f"Profile of {spec.name}")
    if spec.sequence is not None:  # patient histories: lengths, gaps, trajectories
        from tasks.evaluate import history_roles

        result["sequence"] = sequence_profile(df, history_roles(spec))
        page = page.replace("</body>", sequence_profile_section(result["sequence"]) + "</body>")
        markdown += sequence_markdown(result["sequence"])
    storage.write_json(run_path(run_url, "profile_json"), result)
    html_url = storage.write_once(run_path(run_url, "profile_html"), page.encode())
    create_markdown_artifact(
        markdown + f"\n\nFull page: `{html_url}`",
        key="data-profile",
        description=f"Profile of {spec.name}",
    )
    get_run_logger().info("profile written to %s", html_url)
    return html_url
