"""Every check an input passes before any work: read, typed, validated, and trainable.

``check_input`` runs twice: in the CLI before any Prefect machinery starts (a refusal takes a
moment, not a server start) and in the flow's ingest task (a run started from the UI or a
deployment meets the same rules). Neither writes anything, and nothing here imports Prefect.

Patient histories (a long table: ``time_column`` given, or a spec with sequence roles) may bring
their static columns in a second table (``static_data``, one row per patient), joined on the id
column; they are validated as one table plus the sequence rules (times strictly increasing within
a patient, static columns constant).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from generators.conditions import ConditionError, check_against_spec, rows_meeting
from generators.schema import DatasetSpec, SpecError, infer_spec
from generators.sequence import check_sequences, infer_sequence_roles
from tasks.config import RunConfig
from tasks.validation import (
    DataValidationError,
    Violation,
    parse_table,
    read_input,
    read_spec,
    validate,
)

# the split must leave enough rows on each side: the generator learns from the training rows,
# the privacy attacks and utility scores need holdout rows the generator never saw
MIN_TRAIN_ROWS = 20
MIN_HOLDOUT_ROWS = 10
# a conditioned run is scored against the real holdout patients who meet the conditions; the
# density attack splits them in two, so fewer than this cannot measure privacy
MIN_CONDITIONED_HOLDOUT = 20


@dataclass(frozen=True)
class Checked:
    """A valid input: its typed rows, its spec, and what the run records of the file."""

    spec: DatasetSpec
    spec_inferred: bool
    typed: pd.DataFrame
    input_sha256: str
    file_dtypes: dict[str, dict[str, Any]] = field(default_factory=dict)
    patients: int | None = None  # patient histories: how many patients the rows hold


def data_kind(config: RunConfig) -> str:
    """ "sequence" for patient histories (``time_column``, or a spec declaring sequence roles),
    else "table"; known before any work, so a setting that does not fit fails first."""
    if config.time_column is not None:
        return "sequence"
    if config.spec and read_spec(config.spec, config.target).sequence is not None:
        return "sequence"
    return "table"


def check_input(config: RunConfig, expectations: bool = True) -> Checked:
    """The run's input read, typed and validated against its (given or inferred) spec, and
    checked trainable; any problem raises an error naming the file, column and rule.
    ``expectations=False`` leaves out the Great Expectations suite (``validation.validate``)."""
    data = read_input(config.data)
    given = read_spec(config.spec, config.target) if config.spec else None
    digest = hashlib.sha256(data)
    if config.private and given is None:
        raise SpecError(
            f"{config.data}: differential privacy needs a spec (--spec) declaring every column's "
            "bounds and values; inferring them from the data would leak it outside the privacy "
            "budget (write one with `synthcare validate DATA --write-spec spec.yaml`, then set "
            "bounds a clinician would, not the data's own extremes)"
        )
    raw = parse_table(config.data, data, given)
    if config.static_data:
        if config.time_column:
            id_column = config.id_columns[0]
        elif given is not None and given.sequence is not None:
            id_column = given.sequence.id
        else:
            raise SpecError(
                f"{config.static_data}: a static table joins patient histories; the spec "
                f"{config.spec} declares no sequence roles"
            )
        static_bytes = read_input(config.static_data)
        digest.update(static_bytes)
        static = parse_table(config.static_data, static_bytes, given)
        raw = join_static(raw, static, id_column, config.static_data)
    spec = given or _infer(raw, config)
    if given is not None and config.time_column and given.sequence is None:
        raise SpecError(
            f"{config.spec}: --time-column {config.time_column!r} given but the spec declares no "
            "sequence roles (add `sequence: {id, time, static}` to it)"
        )
    source = config.data if not config.static_data else f"{config.data} + {config.static_data}"
    typed = validate(raw, spec, source, expectations)
    if spec.sequence is not None:
        check_sequences(typed, spec, source)
    check_trainable(typed, spec, config.holdout_fraction, source)
    if config.conditions:  # an impossible condition fails before anything is written
        check_against_spec(spec, config.conditions)
        meeting = len(rows_meeting(typed, config.conditions))
        if meeting * config.holdout_fraction < MIN_CONDITIONED_HOLDOUT:
            raise ConditionError(
                f"conditions {config.conditions}: {meeting} patients in {config.data} meet them; "
                f"the holdout needs at least {MIN_CONDITIONED_HOLDOUT} of them to measure privacy"
            )
    patients = int(typed[spec.sequence.id].nunique()) if spec.sequence is not None else None
    return Checked(
        spec=spec,
        spec_inferred=given is None,
        typed=typed,
        input_sha256=digest.hexdigest(),
        file_dtypes=raw.attrs["file_dtypes"],
        patients=patients,
    )


def check_trainable(typed: pd.DataFrame, spec: DatasetSpec, fraction: float, source: str) -> None:
    """What would otherwise fail only after a whole training: too few rows (patients) for the
    split, a target with one class or too few rows of a class, nothing to model."""
    problems: list[Violation] = []
    units = "rows"
    sample = typed
    if spec.sequence is not None:  # histories are split by patient; the target is static
        units, sample = "patients", typed.drop_duplicates(spec.sequence.id)
    n = len(sample)
    holdout = math.ceil(n * fraction)
    if n - holdout < MIN_TRAIN_ROWS or holdout < MIN_HOLDOUT_ROWS:
        problems.append(
            Violation(
                None,
                f"{n} {units} are too few: a {fraction:.0%} holdout leaves {n - holdout} to train "
                f"(need {MIN_TRAIN_ROWS}) and {holdout} to measure privacy and utility (need "
                f"{MIN_HOLDOUT_ROWS}); give at least "
                f"{_rows_needed(fraction)} {units}",
                0,
            )
        )
    if spec.target is not None:
        problems += _target_problems(sample[spec.target], spec, fraction, units)
    varying = [
        c for c in spec.names if c not in spec.id_columns and typed[c].nunique(dropna=False) > 1
    ]
    if not varying:
        problems.append(
            Violation(
                None,
                "nothing to model: every column is an id, constant or empty "
                f"({', '.join(spec.names)}); add the columns that describe the patients",
                0,
            )
        )
    if problems:
        raise DataValidationError(source, problems)


def _rows_needed(fraction: float) -> int:
    n = MIN_TRAIN_ROWS + MIN_HOLDOUT_ROWS
    while (
        n - math.ceil(n * fraction) < MIN_TRAIN_ROWS or math.ceil(n * fraction) < MIN_HOLDOUT_ROWS
    ):
        n += 1
    return n


def _target_problems(
    target: pd.Series, spec: DatasetSpec, fraction: float, units: str
) -> list[Violation]:
    name = str(target.name)
    values = target.dropna()
    if values.nunique() < 2:
        only = "no value" if values.empty else f"the one value {_plain(values.iloc[0])!r}"
        return [
            Violation(
                name,
                f"target has {only}: a model needs at least two outcomes to learn from; choose "
                "another --target or add patients with the other outcome",
                0,
            )
        ]
    if not spec.column(name).is_discrete:
        return []
    # every class must reach the holdout (stratified split) to score utility on it
    need = math.ceil(1 / fraction)
    counts = values.value_counts()
    rare = counts[counts < need]
    if rare.empty:
        return []
    shown = ", ".join(f"{_plain(v)!r}: {c}" for v, c in rare.items())
    return [
        Violation(
            name,
            f"target classes with fewer than {need} {units} ({shown}): a {fraction:.0%} holdout "
            "cannot hold each of them; merge rare classes or drop those rows",
            0,
        )
    ]


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def join_static(visits: pd.DataFrame, static: pd.DataFrame, id_column: str, source: str):  # noqa: ANN201
    """The visits with the static table's columns joined on ``id_column`` (every patient of the
    visits must have exactly one static row; the static table's own dtypes are kept)."""
    problems = []
    if id_column not in static.columns:
        problems.append(Violation(id_column, "id column missing from the static table", 0))
    else:
        shared = [c for c in static.columns if c != id_column and c in visits.columns]
        if shared:
            problems.append(
                Violation(", ".join(shared), "in both tables (static columns belong in one)", 0)
            )
        dupes = static[id_column][static[id_column].duplicated()]
        if len(dupes):
            problems.append(
                Violation(
                    id_column,
                    "static table: more than one row per patient",
                    len(dupes),
                    dupes.head(5).tolist(),
                )
            )
        if id_column in visits.columns:
            absent = pd.Index(visits[id_column].unique()).difference(static[id_column])
            if len(absent):
                problems.append(
                    Violation(
                        id_column,
                        "patients with visits but no row in the static table",
                        len(absent),
                        absent[:5].tolist(),
                    )
                )
    if problems:
        raise DataValidationError(source, problems)
    joined = visits.merge(static, on=id_column, how="left", validate="many_to_one")
    joined.attrs["file_dtypes"] = {
        **visits.attrs.get("file_dtypes", {}),
        **static.attrs.get("file_dtypes", {}),
    }
    return joined


def _infer(raw: pd.DataFrame, config: RunConfig) -> DatasetSpec:
    """A spec inferred from the table, with sequence roles when ``time_column`` is given."""
    try:
        spec = infer_spec(raw, name=config.dataset_name, **config.roles())
    except SpecError as exc:
        raise SpecError(f"{config.data}: {exc}") from None
    if config.time_column is not None:
        spec = with_inferred_sequence(
            raw, spec, config.id_columns[0], config.time_column, config.data
        )
    if not config.constraints:
        return spec
    rules = [rule.model_dump(exclude_none=True) for rule in config.constraints]
    try:
        return DatasetSpec.model_validate({**spec.model_dump(), "constraints": rules})
    except ValidationError as exc:
        problems = "; ".join(e["msg"] for e in exc.errors())
        raise SpecError(f"{config.data}: constraints {rules}: {problems}") from None


def with_inferred_sequence(
    raw: pd.DataFrame, spec: DatasetSpec, patient: str, time_column: str, source: str
) -> DatasetSpec:
    """``spec`` with sequence roles: ``patient`` and ``time_column``, and as static columns
    those constant within every patient."""
    static = infer_sequence_roles(raw, patient, time_column)
    columns = spec.model_dump()["columns"]
    times = raw[time_column] if time_column in raw.columns else None
    for col in columns:  # a visit number with few values is still a time, not a category
        if col["name"] == time_column and col["type"] in ("categorical", "boolean"):
            if times is not None and pd.api.types.is_numeric_dtype(times.dtype):
                values = times.dropna().to_numpy(dtype=float)
                whole = bool(np.all(values == np.round(values)))
                cast = int if whole else float
                col.update(
                    type="integer" if whole else "numeric",
                    values=None,
                    min=cast(values.min()),
                    max=cast(values.max()),
                )
    try:
        return DatasetSpec.model_validate(
            {
                **spec.model_dump(),
                "columns": columns,
                "sequence": {"id": patient, "time": time_column, "static": static},
            }
        )
    except ValueError as exc:  # pydantic's ValidationError is one
        errors = getattr(exc, "errors", None)
        problems = "; ".join(e["msg"] for e in errors()) if errors else str(exc)
        raise SpecError(f"{source}: cannot infer the sequence roles: {problems}") from exc
