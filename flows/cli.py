"""The ``synthcare`` command line: generate, validate, profile, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from evaluation.catalogue import SCORES

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no network here, no telemetry
# Prefect's temporary server gets 20 s to start by default; on two busy cores (a training
# beside it) it took longer and the run failed before any work: give it two minutes
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

EXIT_BAD_INPUT = 2
EXIT_REJECTED = 3
HEADLINE = [(key, score.label) for key, score in SCORES.items()]


def _local(url: str) -> str:
    return url if "://" in url else str(Path(url).expanduser().resolve())


def _add_generate_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--constraint",
        action="append",
        default=[],
        metavar="A<=B",
        help="a rule every real and synthetic row keeps, for an inferred spec (repeatable); with "
        "--time-column, TIME<=COLUMN ends each synthetic history at COLUMN (e.g. follow-up)",
    )
    p.add_argument(
        "--generator",
        help="generator name, or auto: train the table families within --time-budget and keep "
        "the best on a validation split (default: auto for a table, dp when --dp-epsilon is "
        "given, ctgan when --set is; dgan for patient histories)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="SECONDS",
        help="auto: seconds of estimated training on a 2-core CPU; families that would not fit "
        "are skipped (default 180: a 20,000-row table in under 5 minutes; 0 = no budget)",
    )
    p.add_argument(
        "--gate-min-utility",
        type=float,
        metavar="RATIO",
        help="release gate: the least TSTR/TRTR on the target (default 0.85; 0 turns it off); "
        "a run below it is rejected (exit 3) and its rows stay in candidate/",
    )
    p.add_argument(
        "--auto-seeds", type=int, default=1, help="auto: seeds tried per family (default 1)"
    )
    p.add_argument(
        "--auto-folds",
        type=int,
        default=5,
        help="auto: below 400 training rows, score candidates on up to this many folds where the "
        "time budget allows (default 5; 1: one validation split)",
    )
    p.add_argument(
        "--auto-family",
        action="append",
        default=[],
        metavar="NAME",
        help="auto: a generator family to try (repeatable; default: cart, gaussian_copula, "
        "tvae, tabddpm, ctgan, cheapest first)",
    )
    p.add_argument(
        "--train-deployment",
        metavar="FLOW/DEPLOYMENT",
        help="run every training as a run of this train deployment (e.g. train/train-gpu), in "
        "parallel on its work pool; needs PREFECT_API_URL (default: train in-process)",
    )
    p.add_argument("--epochs", type=int, help="training epochs")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a generator setting (repeatable; VALUE read as JSON, else text), e.g. "
        "--set likeliest_modes=true --set outcome_weight=1; checked before any work",
    )
    p.add_argument(
        "--rows",
        type=int,
        help="synthetic rows, or patients for patient histories (default: as many as the input)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed; same seed, data and device -> same rows"
    )
    p.add_argument("--out", default="./synthcare-data", help="output root: folder or s3:// URL")
    p.add_argument(
        "--guidance-pool",
        type=int,
        default=16,
        help="discriminator-guided sampling pool factor (default 16; 1 turns it off)",
    )
    p.add_argument(
        "--dp-epsilon",
        type=float,
        help="train with differential privacy at this epsilon: the dp generator (noisy "
        "marginals), or ctgan's DP-SGD with --generator ctgan; needs --spec with declared bounds "
        "and values",
    )
    p.add_argument("--dp-delta", type=float, help="DP delta (default 1/(10 n), below 1/n)")
    p.add_argument(
        "--condition",
        action="append",
        default=[],
        metavar="COLUMN=VALUE",
        help="generate only patients with this value of a categorical column (repeatable)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=10,
        metavar="N",
        help="save training state every N epochs; rerunning an interrupted run resumes from it "
        "(default 10; 0 turns it off)",
    )
    p.add_argument(
        "--retrain",
        action="store_true",
        help="train even when a model stored for the same input and settings exists",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_role_options(p: argparse.ArgumentParser) -> None:
    """Column roles for a spec inferred from the data (a --spec file declares its own)."""
    p.add_argument(
        "--id-column",
        action="append",
        default=[],
        help="identifier column (repeatable); with --time-column, the one patient id",
    )
    p.add_argument(
        "--time-column",
        help="patient histories: the visit time column of a long table (one row per visit); "
        "columns constant within every patient are static, the others measurements",
    )

    p.add_argument(
        "--non-predictor",
        action="append",
        default=[],
        help="column kept out of utility models, e.g. follow-up time (repeatable)",
    )
    p.add_argument(
        "--survival-time",
        help="follow-up time column; the target is then the event (scores the concordance index)",
    )
    p.add_argument(
        "--quasi-identifier",
        action="append",
        default=[],
        help="column an attacker may know, e.g. age or postcode (repeatable; k-anonymity)",
    )
    p.add_argument(
        "--sensitive",
        action="append",
        default=[],
        help="column an attacker must not learn, e.g. a diagnosis (repeatable; attribute attack)",
    )


def _roles(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "id_columns": args.id_column,
        "non_predictors": args.non_predictor,
        "time_column": getattr(args, "time_column", None),
        "survival_time": args.survival_time,
        "quasi_identifiers": args.quasi_identifier,
        "sensitive": args.sensitive,
    }


def _conditions(items: list[str]) -> dict[str, str]:
    from generators.schema import SpecError

    out = {}
    for item in items:
        column, sep, value = item.partition("=")
        if not sep or not column:
            raise SpecError(f"--condition {item!r}: expected COLUMN=VALUE")
        out[column.strip()] = value.strip()
    return out


def _constraints(items: list[str]) -> list[dict[str, list[str]]]:
    from generators.schema import SpecError

    out = []
    for item in items:
        low, sep, high = item.partition("<=")
        if not sep or not low.strip() or not high.strip():
            raise SpecError(f"--constraint {item!r}: expected COLUMN<=COLUMN")
        out.append({"less_equal": [low.strip(), high.strip()]})
    return out


def _settings(items: list[str]) -> dict[str, Any]:
    """``--set NAME=VALUE`` items as a generator_config; the generator's own settings class
    checks names and values (RunConfig.generator_settings)."""
    from tasks.config import ConfigError

    out: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE")
        try:
            out[name.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[name.strip()] = value.strip()
    return out


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="synthcare", description="Synthetic patient data: faithful, useful, private."
    )
    ap.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also SYNTHCARE_DEBUG=1)",
    )
    sub = ap.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="validate, profile, train, sample, evaluate and publish")
    gen.add_argument("data", help="CSV or Parquet: path or s3:// URL")
    gen.add_argument("--target", help="column to predict (utility is scored on it)")
    gen.add_argument(
        "--spec", help="dataset spec YAML; inferred and stored in the run folder when absent"
    )
    _add_role_options(gen)
    gen.add_argument(
        "--static-data",
        metavar="FILE",
        help="patient histories: a second table of static columns, one row per patient, joined "
        "on the id column",
    )
    gen.add_argument("--dataset", help="dataset name in the output tree (default: file name)")
    gen.add_argument(
        "--schema",
        metavar="SCHEMA.yaml",
        help="whole records: DATA is a folder with one CSV or Parquet file a table; the schema "
        "names keys, dictionaries and date rules (inferred and written to the run when absent)",
    )
    _add_generate_options(gen)

    val = sub.add_parser("validate", help="check a table against its spec")
    val.add_argument("data")
    val.add_argument(
        "--spec", help="dataset spec YAML; without one, a spec is inferred and printed"
    )
    val.add_argument("--target")
    val.add_argument("--write-spec", help="write the (inferred) spec to this YAML file")

    prof = sub.add_parser("profile", help="profile a table (JSON + HTML)")
    prof.add_argument("data")
    prof.add_argument("--spec")
    prof.add_argument(
        "--out", help="folder for profile.json and profile.html (default: ./synthcare-profile-NAME)"
    )

    demo = sub.add_parser("demo", help="the full pipeline on the bundled flchain study")
    _add_generate_options(demo)
    demo.set_defaults(epochs=None)
    demo_ts = sub.add_parser(
        "demo-timeseries",
        help="the full pipeline on the bundled PBC2 patient histories (irregular visits)",
    )
    _add_generate_options(demo_ts)

    demo_rec = sub.add_parser(
        "demo-records",
        help="whole records on the bundled MIMIC-III demo (patients, admissions, ICU stays, "
        "diagnoses, procedures, prescriptions)",
    )
    demo_rec.add_argument("--out", default="./synthcare-data")
    demo_rec.add_argument("--seed", type=int, default=0)

    ev = sub.add_parser(
        "evaluate",
        help="score any synthetic table against real data (exit 0: gate passed, 3: failed)",
    )
    ev.add_argument("real", help="the real rows the synthetic data was made from")
    ev.add_argument("synthetic", help="the synthetic rows, from synthcare or any other tool")
    ev.add_argument("--target", help="column to predict (utility is scored on it)")
    ev.add_argument(
        "--holdout", help="real rows the generator never saw (needed for utility and privacy)"
    )
    ev.add_argument("--spec", help="dataset spec YAML (inferred from REAL when absent)")
    _add_role_options(ev)
    ev.add_argument(
        "--out", default="./synthcare-evaluation", help="folder for metrics.json and report.html"
    )
    ev.add_argument("--seed", type=int, default=0)

    more = sub.add_parser("sample", help="more synthetic rows from a complete run's model")
    more.add_argument("run", help="URL of a complete run folder (the last line `generate` prints)")
    more.add_argument("--rows", type=int, required=True, help="synthetic rows")
    more.add_argument("--seed", type=int, default=1, help="seed (default 1)")
    more.add_argument(
        "--condition", action="append", default=[], metavar="COLUMN=VALUE", help="(repeatable)"
    )

    sub.add_parser("generators", help="list the available generators")
    return ap


def _spec_for(  # noqa: ANN202
    data_url: str,
    spec_url: str | None,
    target: str | None,
    more_real: str | None = None,
    **roles: Any,
):
    """The table at ``data_url`` and its spec: the given one, or one inferred from the table
    and ``more_real`` (more real rows, e.g. a holdout, so its ranges are real ranges too), with
    sequence roles when ``time_column`` is given."""
    import pandas as pd

    from generators.schema import SpecError, infer_spec
    from tasks.config import dataset_name_of
    from tasks.inputs import with_inferred_sequence
    from tasks.validation import read_spec, read_table

    time_column = roles.pop("time_column", None)
    spec = read_spec(spec_url, target) if spec_url else None
    raw = read_table(data_url, spec)
    if spec is not None:
        return raw, spec
    known = raw
    if more_real is not None:  # its columns as the table's: a missing one is refused later
        more = read_table(more_real).reindex(columns=raw.columns)
        known = pd.concat([raw, more], ignore_index=True)
    spec = infer_spec(known, name=dataset_name_of(data_url), target=target, **roles)
    if time_column is not None:
        ids = roles.get("id_columns") or []
        if len(ids) != 1:
            raise SpecError(f"--time-column needs exactly one --id-column (the patient), got {ids}")
        spec = with_inferred_sequence(raw, spec, ids[0], time_column, data_url)
    return raw, spec


def cmd_validate(args: argparse.Namespace) -> int:
    from tasks.validation import validate

    raw, spec = _spec_for(_local(args.data), args.spec and _local(args.spec), args.target)
    typed = validate(raw, spec, args.data)
    if args.write_spec:
        Path(args.write_spec).write_text(spec.to_yaml())
    if not args.spec:
        print(spec.to_yaml())
    print(f"valid: {args.data}: {len(typed)} rows x {typed.shape[1]} columns")
    return 0


def cmd_profile(args: argparse.Namespace) -> int:
    import json

    from evaluation.profile import profile_table
    from evaluation.report import profile_html
    from tasks.validation import validate

    raw, spec = _spec_for(_local(args.data), args.spec and _local(args.spec), None)
    typed = validate(raw, spec, args.data) if args.spec else raw
    result = profile_table(typed, {c.name: c.type for c in spec.columns})
    out = Path(args.out or f"./synthcare-profile-{spec.name}").resolve()
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(result, indent=2))
    (out / "profile.html").write_text(profile_html(result, f"Profile of {spec.name}"))
    print(
        f"{result['rows']} rows, {result['columns']} columns, {result['duplicate_rows']} duplicates, "
        f"{result['missing_cells_share']:.1%} cells missing"
    )
    print(out / "profile.html")
    return 0


def _print_metrics(summary: dict[str, Any]) -> None:
    width = max(len(label) for _, label in HEADLINE)
    print("\nsynthetic data scores")
    for key, label in HEADLINE:
        if key in summary:
            value = summary[key]
            shown = f"{value:.4f}" if isinstance(value, float) else str(value)
            print(f"  {label:<{width}}  {shown}")


def cmd_sample(args: argparse.Namespace) -> int:
    from flows.sample import sample_more

    run = _local(args.run)
    return _run(None, lambda: sample_more(run, args.rows, args.seed, _conditions(args.condition)))


def _run(config, start=None) -> int:  # noqa: ANN001
    from flows.generate import RunRejected, generate
    from tasks import storage

    try:
        run_url = start() if start is not None else generate(config)
    except RunRejected as rejected:
        manifest = storage.read_json(storage.join(rejected.run_url, "manifest.json"))
        _print_metrics(manifest["metrics"])
        print(f"error: {rejected}", file=sys.stderr)
        print(rejected.run_url)
        return EXIT_REJECTED
    manifest = storage.read_json(storage.join(run_url, "manifest.json"))
    _print_metrics(manifest["metrics"])
    train = manifest["results"]["train"]
    auto = manifest["results"].get("auto")
    if auto:
        print(f"  auto chose {auto['chosen']['name']}: {auto['reason']}")
        for c in auto["candidates"]:
            verdict = "private" if c["private"] else "fails privacy: " + "; ".join(c["reasons"])
            print(f"    {c['candidate']['name']:<22} quality {c['quality']:.3f}  ({verdict})")
        for line in auto.get("skipped", []):
            print(f"    skipped for the time budget: {line}")
    if train.get("reused_from"):
        print(f"  model reused, no training: {train['reused_from']}")
    else:
        print(f"  training: {train['epochs']} epochs, {train['seconds_per_epoch']:.3f} s/epoch")
    print(run_url)
    return 0


def _time_budget(args: argparse.Namespace) -> dict[str, float | None]:
    """--time-budget as a run config field: absent keeps the config's default, 0 means none."""
    return {} if args.time_budget is None else {"time_budget": args.time_budget or None}


def _gate(args: argparse.Namespace) -> dict:
    """--gate-min-utility as the run config's gate: absent keeps the default, 0 turns it off."""
    from tasks.config import GateConfig

    if args.gate_min_utility is None:
        return {}
    return {"gate": GateConfig(min_tstr_ratio=args.gate_min_utility or None)}


# run config fields whose command-line option is not simply --field-name
_FLAGS = {
    "data": "DATA",
    "output": "--out",
    "id_columns": "--id-column",
    "non_predictors": "--non-predictor",
    "quasi_identifiers": "--quasi-identifier",
    "auto_families": "--auto-family",
    "generator_config": "--set",
    "constraints": "--constraint",
    "conditions": "--condition",
    "gate": "--gate-min-utility",
}


def _config(build=None, *args: Any, **fields: Any):  # noqa: ANN001, ANN202 - a RunConfig
    """The run config (``build``: RunConfig or a demo's config maker), or a ``ConfigError``
    that names the command-line option at fault."""
    from pydantic import ValidationError

    from tasks.config import ConfigError, RunConfig

    try:
        return (build or RunConfig)(*args, **fields)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            field = str(e["loc"][0]) if e["loc"] else ""
            flag = _FLAGS.get(field, "--" + field.replace("_", "-")) if field else "settings"
            message = e["msg"].removeprefix("Value error, ")
            problems.append(f"{flag}: {message}" if field else message)
        raise ConfigError("; ".join(problems)) from None


def _preflight(config) -> None:  # noqa: ANN001 - a RunConfig
    """Every check that needs no training, before any Prefect machinery starts: the output is
    writable, the settings fit the data's kind, the input is valid and trainable. A refusal
    takes a moment and writes nothing."""
    from tasks.inputs import check_input, data_kind
    from tasks.storage import check_writable

    check_writable(config.output)
    config.generator_settings(data_kind(config))
    check_input(config, expectations=False)  # the run's ingest step runs the suite


def _is_folder(url: str) -> bool:
    return url.endswith("/") if "://" in url else Path(url).is_dir()


def cmd_records(data: str, schema: str | None, out: str, seed: int, **more: Any) -> int:
    from flows.records import RecordsConfig, generate_records
    from tasks import storage

    config = RecordsConfig(
        data=_local(data),
        schema_url=schema and _local(schema),
        output=_local(out),
        seed=seed,
        **more,
    )
    run_url = generate_records(config)
    manifest = storage.read_json(storage.join(run_url, "manifest.json"))
    m = manifest["metrics"]
    print("synthetic records scores")
    print(f"  referential integrity, worst table      {m['referential_integrity_min']:.4f}")
    print(f"  date containment, worst rule            {m['date_containment_min']:.4f}")
    print(f"  child-count KS, worst parent-child pair {m['child_count_ks_max']:.4f}")
    print(f"  copied patient records                  {m['record_copies']}")
    print(
        f"  DCR share, patient summaries            {m['patient_dcr_share']:.4f}"
        f"  (real unseen patients: up to {m['patient_dcr_share_real_p95']:.4f})"
    )
    print(f"  membership attack AUC, patients         {m['patient_membership_auc']:.4f}")
    if "utility" in m:
        u = m["utility"]
        print(f"  TRTR AUC (real records -> holdout)      {u.get('trtr_auc', float('nan')):.4f}")
        print(f"  TSTR AUC (synthetic -> holdout)         {u.get('tstr_auc', float('nan')):.4f}")
    print("  rows: " + ", ".join(f"{n} {k}" for n, k in m["rows"].items()))
    if manifest["schema_inferred"]:
        print(f"  schema inferred: {storage.join(run_url, 'schema.yaml')}")
    print(run_url)
    return 0


def cmd_demo_records(args: argparse.Namespace) -> int:
    from flows.demo import MIMIC_DEMO, mimic_utility

    return cmd_records(
        str(MIMIC_DEMO),
        str(MIMIC_DEMO / "schema.yaml"),
        args.out,
        args.seed,
        dataset="mimic-iii-demo",
        utility=mimic_utility(),
    )


def cmd_generate(args: argparse.Namespace) -> int:
    if args.schema or _is_folder(args.data):
        from tasks.config import ConfigError

        for flag in ("target", "spec", "static_data", "generator", "condition", "dp_epsilon"):
            if getattr(args, flag, None):
                raise ConfigError(
                    f"--{flag.replace('_', '-')} applies to one table; {args.data} is a folder "
                    "of tables (whole records)"
                )
        return cmd_records(
            args.data, args.schema, args.out, args.seed, dataset=args.dataset, roots=args.rows
        )
    config = _config(
        data=_local(args.data),
        target=args.target,
        spec=args.spec and _local(args.spec),
        static_data=args.static_data and _local(args.static_data),
        dataset=args.dataset,
        **_roles(args),
        constraints=_constraints(args.constraint),
        generator=args.generator,
        auto_seeds=args.auto_seeds,
        auto_folds=args.auto_folds,
        auto_families=args.auto_family,
        train_deployment=args.train_deployment,
        **_time_budget(args),
        **_gate(args),
        epochs=args.epochs,
        generator_config=_settings(args.set),
        rows=args.rows,
        seed=args.seed,
        guidance_pool=args.guidance_pool,
        dp_epsilon=args.dp_epsilon,
        dp_delta=args.dp_delta,
        conditions=_conditions(args.condition),
        output=_local(args.out),
        checkpoint_every=args.checkpoint_every,
        retrain=args.retrain,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    _preflight(config)
    return _run(config)


def _run_demo(args: argparse.Namespace, write, make_config) -> int:  # noqa: ANN001
    """A bundled demo: write its CSV beside the output, then run it with the given options
    (those that do not apply to its data are refused by the run config, never ignored)."""
    out = _local(args.out)
    data = write(Path(out if "://" not in out else ".") / "demo-input")
    config = _config(
        make_config,
        data,
        out,
        generator=args.generator,
        auto_seeds=args.auto_seeds,
        auto_folds=args.auto_folds,
        auto_families=args.auto_family,
        train_deployment=args.train_deployment,
        **_time_budget(args),
        **_gate(args),
        epochs=args.epochs,
        generator_config=_settings(args.set),
        constraints=_constraints(args.constraint),
        rows=args.rows,
        seed=args.seed,
        guidance_pool=args.guidance_pool,
        dp_epsilon=args.dp_epsilon,
        dp_delta=args.dp_delta,
        conditions=_conditions(args.condition),
        checkpoint_every=args.checkpoint_every,
        retrain=args.retrain,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    _preflight(config)
    return _run(config)


def cmd_demo(args: argparse.Namespace) -> int:
    from flows.demo import demo_config, write_flchain_csv

    return _run_demo(args, write_flchain_csv, demo_config)


def cmd_demo_timeseries(args: argparse.Namespace) -> int:
    from flows.demo import pbc2_demo_config, write_pbc2_csv

    return _run_demo(args, write_pbc2_csv, pbc2_demo_config)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from generators.schema import SpecError
    from generators.sequence import check_sequences
    from tasks import storage
    from tasks.config import GateConfig
    from tasks.evaluate import judge_and_report, score
    from tasks.validation import coerce, read_table, validate

    real_url = _local(args.real)
    holdout_url = args.holdout and _local(args.holdout)
    raw, spec = _spec_for(
        real_url, args.spec and _local(args.spec), args.target, holdout_url, **_roles(args)
    )
    real = validate(raw, spec, args.real)
    if spec.sequence is not None and not args.holdout:
        raise SpecError(
            "patient histories are scored against real patients the generator never saw: give "
            "--holdout"
        )
    holdout = None
    if args.holdout:
        holdout = validate(read_table(holdout_url, spec), spec, args.holdout)
    synth_raw = read_table(_local(args.synthetic), spec)
    missing = [c for c in spec.names if c not in synth_raw.columns]
    if missing:
        from tasks.validation import DataValidationError, Violation

        raise DataValidationError(
            args.synthetic, [Violation(c, "missing column", 0) for c in missing]
        )
    synth = coerce(synth_raw[spec.names], spec)[0]
    if spec.sequence is not None:  # the sequence rules hold on every side
        for name, table in ((args.real, real), (args.holdout, holdout), (args.synthetic, synth)):
            check_sequences(table, spec, name)
    metrics = score(real, holdout, synth, spec, args.seed)
    metrics, page = judge_and_report(
        metrics,
        GateConfig().model_dump(),
        real,
        holdout,
        synth,
        spec,
        f"Evaluation of {args.synthetic}",
    )
    out = _local(args.out)
    storage.write_json(storage.join(out, "metrics.json"), metrics)
    storage.write_once(storage.join(out, "report.html"), page.encode())
    _print_metrics(metrics["summary"])
    gate = metrics["gate"]
    print(f"\ngate: {'passed' if gate['passed'] else 'FAILED'}")
    for reason in gate["reasons"]:
        print(f"  - {reason}")
    for note in metrics["notes"]:
        print(f"note: {note}")
    print(storage.join(out, "report.html"))
    return 0 if gate["passed"] else EXIT_REJECTED


def cmd_generators(_: argparse.Namespace) -> int:
    from generators import registry

    for name in registry.available():
        if registry.kind_of(name) == "table":
            print(name)
    print("auto  (trains every family above but dp, keeps the best on a validation split)")
    described = {
        "dgan": "patient histories: static attributes and irregular visits",
        "signal": "patient histories: fixed-length signals on one time grid, such as ECG beats",
    }
    for name in registry.builtin("sequence"):
        print(f"{name}  ({described.get(name, 'patient histories')})")
    print("auto  (histories: signal when every patient is a fixed-length signal, else dgan)")
    return 0


def main(argv: list[str] | None = None) -> int:
    from generators.conditions import ConditionError
    from generators.schema import SpecError
    from generators.sequence import SequenceError
    from tasks.config import ConfigError
    from tasks.storage import StorageError
    from tasks.validation import DataValidationError

    args = parser().parse_args(argv)
    command = {
        "generate": cmd_generate,
        "validate": cmd_validate,
        "profile": cmd_profile,
        "demo": cmd_demo,
        "demo-timeseries": cmd_demo_timeseries,
        "demo-records": cmd_demo_records,
        "evaluate": cmd_evaluate,
        "generators": cmd_generators,
        "sample": cmd_sample,
    }[args.command]
    debug = args.debug or os.environ.get("SYNTHCARE_DEBUG", "") not in ("", "0")
    try:
        return command(args)
    except (DataValidationError, SpecError, SequenceError, ConditionError, ConfigError) as exc:
        _error(exc, debug)
        return EXIT_BAD_INPUT
    except StorageError as exc:
        _error(exc, debug)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen fault: one line, not a dump
        records = sys.modules.get("flows.records")  # tables that break their schema
        if records is not None and isinstance(exc, records.RecordsRefused):
            _error(exc, debug)
            return EXIT_BAD_INPUT
        remote = sys.modules.get("tasks.remote")  # loaded only by runs that train on a pool
        if remote is not None and isinstance(exc, remote.RemoteTrainingError):
            _error(exc, debug)
            return 1
        if debug:
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("  (run with --debug or SYNTHCARE_DEBUG=1 for the traceback)", file=sys.stderr)
        return 1


def _error(exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
