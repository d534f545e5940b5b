"""The run config: everything that defines one generation run, typed and frozen.

Flows take it as their parameter, so Prefect validates it and renders it as a form in the UI; the
CLI builds the same object, and the run folder stores it (``config.json``) with its hash.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import PurePosixPath
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from generators import registry
from generators.schema import Constraint, problems_of

# generator auto: seconds of estimated training (candidates and final fit) a run may spend
DEFAULT_TIME_BUDGET = 180.0


class ConfigError(ValueError):
    """Run settings that cannot work together (a generator setting it does not have, ...)."""


# a dataset name is one folder of the output tree: nothing that could climb out of it
SAFE_NAME = re.compile(r"[A-Za-z0-9._-]+")


def check_name(name: str, what: str = "dataset") -> str:
    """``name`` if it is safe as one path segment: letters, digits, ``.``, ``_``, ``-``, not
    empty and without ``..`` (a folder name that could leave the output root is refused)."""
    if not SAFE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"{what} name {name!r}: use only letters, digits, '.', '_' and '-', without '..' "
            "(it names a folder under the output root)"
        )
    return name


def dataset_name_of(url: str) -> str:
    """A table's name from its file name: ``s3://b/exports/admissions.csv`` -> ``admissions``
    (characters a folder name must not hold become ``_``)."""
    stem = PurePosixPath(url.split("?")[0]).name.split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]", "_", stem) or "dataset"


class GateConfig(BaseModel):
    """Release thresholds. Privacy limits always apply; fidelity and utility floors when set."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_exact_copies: int = Field(0, ge=0, description="Synthetic rows equal to a training row")
    max_dcr_share: float = Field(0.55, gt=0, le=1, description="Share closer to train than holdout")
    max_membership_auc: float = Field(
        0.60,
        gt=0,
        le=1,
        description="Membership attack ROC AUC (the stronger of the distance and density attacks)",
    )
    max_detection_auc: float | None = Field(None, gt=0, le=1, description="Optional fidelity limit")
    max_discriminative_score: float | None = Field(
        None, ge=0, le=0.5, description="Optional fidelity limit for patient histories"
    )
    min_column_shapes: float | None = Field(None, ge=0, le=1, description="Optional fidelity floor")
    min_tstr_ratio: float | None = Field(
        0.85,
        ge=0,
        le=2,
        description="Utility floor: TSTR / TRTR on the target (AUC, else R², else C-index); "
        "applies when the run has a target; None turns it off",
    )


class RunConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str = Field(description="Input table: CSV or Parquet, local path or s3:// URL")
    target: str | None = Field(None, description="Column to predict (utility is scored on it)")
    spec: str | None = Field(
        None, description="Dataset spec YAML (path or URL); inferred when absent"
    )
    dataset: str | None = Field(
        None, description="Dataset name in the output tree; default: file name"
    )
    id_columns: list[str] = Field(
        default_factory=list, description="Identifier columns (generated fresh)"
    )
    non_predictors: list[str] = Field(
        default_factory=list, description="Columns kept out of utility models (e.g. follow-up time)"
    )
    survival_time: str | None = Field(
        None, description="Follow-up time column when the target is an event (concordance index)"
    )
    time_column: str | None = Field(
        None,
        description="Patient histories: the visit time column of a long table (one row per "
        "visit); the one id column names the patient, columns constant within every patient "
        "are static",
    )
    static_data: str | None = Field(
        None,
        description="Patient histories: a second table of static columns (one row per patient), "
        "joined to the visits on the id column",
    )
    constraints: list[Constraint] = Field(
        default_factory=list,
        description="Rules every real and synthetic row keeps, added to an inferred spec (a given "
        "spec declares its own): less_equal [a, b] or forbidden {column: value, ...}; in patient "
        "histories less_equal [time column, x] ends the visits at x (e.g. follow-up)",
    )
    quasi_identifiers: list[str] = Field(
        default_factory=list, description="Columns an attacker may know (k-anonymity)"
    )
    sensitive: list[str] = Field(
        default_factory=list, description="Columns an attacker must not learn (attribute attack)"
    )
    generator: str | None = Field(
        None,
        description="Generator name (see `synthcare generators`), or auto: train the table "
        "families within the time budget and keep the best on a validation split. Default: auto "
        "for a table (dp when dp_epsilon is given, ctgan when generator_config is), dgan for "
        "patient histories",
    )
    time_budget: float | None = Field(
        DEFAULT_TIME_BUDGET,
        gt=0,
        description="auto: seconds of estimated training (candidates and the final fit) on a "
        "2-core CPU; families that would not fit are skipped; None: try every family",
    )
    auto_seeds: int = Field(1, ge=1, le=5, description="auto: seeds tried per family")
    auto_folds: int = Field(
        5,
        ge=1,
        le=10,
        description="auto: below 400 training rows, score each candidate on up to this many "
        "folds of the training split (as many as the time budget holds) and choose by the mean; "
        "1: one validation split",
    )
    auto_families: list[str] = Field(
        default_factory=list,
        description="auto: the generator families tried (default: cart, gaussian_copula, tvae, "
        "tabddpm, ctgan, within the time budget)",
    )
    generator_config: dict[str, Any] = Field(default_factory=dict, description="Generator settings")
    epochs: int | None = Field(
        None, ge=1, description="Training epochs (overrides generator_config)"
    )
    rows: int | None = Field(
        None, ge=1, description="Synthetic rows; default: as many as the input"
    )
    seed: int = Field(0, ge=0, description="One seed makes the run reproducible")
    holdout_fraction: float = Field(
        0.2, gt=0.0, lt=0.9, description="Real rows kept for evaluation"
    )
    output: str = Field(
        "./synthcare-data", description="Root of the run folders: path or s3:// URL"
    )
    guidance_pool: int = Field(
        16,
        ge=1,
        le=64,
        description="Discriminator-guided sampling: draw this many times the rows and keep them in "
        "proportion to how real they look (1 = off)",
    )
    dp_epsilon: float | None = Field(
        None,
        gt=0,
        description="Train with differential privacy at this epsilon: the dp generator (noisy "
        "marginals) unless ctgan (DP-SGD) is named. Needs a spec with declared bounds and "
        "values; turns guided sampling off",
    )
    dp_delta: float | None = Field(
        None, gt=0, lt=1, description="DP delta; default 1/(10 n), always below 1/n"
    )
    conditions: dict[str, str | int | float | bool | None] = Field(
        default_factory=dict,
        description="Generate only patients meeting these (categorical column -> value); the "
        "evaluation then compares them with the real patients who meet them",
    )
    gate: GateConfig = Field(default_factory=GateConfig, description="Release thresholds")
    chunk_rows: int = Field(100_000, ge=1000, description="Synthetic rows per Parquet part")
    checkpoint_every: int = Field(
        10,
        ge=0,
        description="Save training state every N epochs, so an interrupted run resumes (0: off)",
    )
    progress: bool = Field(False, description="Show a training progress bar on the terminal")
    train_deployment: str | None = Field(
        None,
        description="Run every training as a run of this deployment of the train flow (e.g. "
        "train/train-gpu), in parallel on its work pool's workers; empty: train in-process",
    )
    train_pickup_timeout: float = Field(
        600.0,
        gt=0,
        description="Seconds a queued training may wait while no worker of that pool is online "
        "before the run fails (busy workers online: it waits for them)",
    )
    retrain: bool = Field(
        False, description="Train even when a model stored for this input and config exists"
    )

    @field_validator("generator")
    @classmethod
    def _known_generator(cls, name: str | None) -> str | None:
        if name is not None and name != "auto":
            try:
                registry.check_known(name)
            except registry.UnknownGeneratorError as exc:
                raise ValueError(str(exc)) from None  # pydantic reports ValueErrors
        return name

    @field_validator("dataset")
    @classmethod
    def _safe_dataset(cls, name: str | None) -> str | None:
        return name if name is None else check_name(name)

    @field_validator("auto_families")
    @classmethod
    def _known_families(cls, names: list[str]) -> list[str]:
        for name in names:
            try:
                kind = registry.kind_of(name)
            except registry.UnknownGeneratorError as exc:
                raise ValueError(str(exc)) from None
            if kind != "table":
                raise ValueError(f"auto_families: {name!r} is not a table generator")
        if len(set(names)) != len(names):
            raise ValueError(f"auto_families lists a family twice: {names}")
        return names

    @model_validator(mode="after")
    def _families_need_auto(self) -> RunConfig:
        if self.auto_families and self.generator_name() != "auto":
            raise ValueError("auto_families applies to generator auto only")
        if self.time_column is not None and len(self.id_columns) != 1:
            raise ValueError(
                f"time_column {self.time_column!r}: patient histories need exactly one id column "
                f"(the patient), got {self.id_columns or 'none'} (--id-column ID)"
            )
        if self.constraints and self.spec is not None:
            raise ValueError(
                "constraints are added to an inferred spec; a given spec declares its own "
                f"(add them to {self.spec} under `constraints:`)"
            )
        if self.static_data is not None and self.time_column is None and self.spec is None:
            raise ValueError(
                "static_data joins a table of static columns to patient histories: give "
                "time_column (and the id column) or a spec with sequence roles"
            )
        return self

    def with_overrides(self, overrides: dict[str, Any] | None) -> RunConfig:
        """This config with ``overrides`` merged in (a dict field such as ``gate`` or
        ``generator_config`` merges one level deep), checked like any config."""
        if not overrides:
            return self
        merged = self.model_dump(mode="json")
        for name, value in overrides.items():
            if isinstance(value, dict) and isinstance(merged.get(name), dict):
                merged[name] = {**merged[name], **value}
            else:
                merged[name] = value
        try:
            return RunConfig.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(f"overrides {overrides}: {problems_of(exc)}") from None

    @property
    def auto(self) -> bool:
        """Whether a table run chooses its family (named auto, or nothing named)."""
        return self.generator_name("table") == "auto"

    def roles(self) -> dict[str, Any]:
        """The column roles a spec inferred for this run gets (a given spec brings its own)."""
        return {
            "target": self.target,
            "id_columns": self.id_columns,
            "non_predictors": self.non_predictors,
            "survival_time": self.survival_time,
            "quasi_identifiers": self.quasi_identifiers,
            "sensitive": self.sensitive,
        }

    def generator_name(self, kind: str = "table") -> str:
        """The generator to train on data of ``kind`` ("table" or "sequence")."""
        if self.generator:
            return self.generator
        if kind == "sequence":  # auto: by shape, then validation (tasks.select_sequence)
            return "dgan" if self.generator_config or self.epochs is not None else "auto"
        # differential privacy names dp, settings name ctgan's; otherwise the families compete
        if self.dp_epsilon is not None:
            return "dp"
        return "ctgan" if self.generator_config else "auto"

    def generator_settings(self, kind: str = "table") -> dict[str, Any]:
        """The chosen generator's settings, checked; for ``auto`` each candidate has its own
        (``tasks.select.candidates``) and only ``--epochs`` applies. ``kind`` is the data's:
        "table" or "sequence" (patient histories)."""
        if kind == "sequence":
            self._check_sequence_settings()
        elif self.generator not in (None, "auto") and registry.kind_of(self.generator) != "table":
            raise ConfigError(
                f"generator {self.generator!r} generates patient histories; this data is one row "
                "per patient (give --time-column, or a spec with sequence roles, for a long table)"
            )
        if self.generator_name(kind) == "auto":
            if self.generator_config:
                raise ConfigError("generator auto takes no generator_config (only --epochs)")
            if self.dp_epsilon is not None:
                raise ConfigError(
                    "generator auto cannot train with differential privacy: choosing among "
                    "candidates reads the data again, outside the privacy budget; use dp or ctgan"
                )
            return {} if self.epochs is None else {"epochs": self.epochs}
        settings = dict(self.generator_config)
        if self.epochs is not None:
            settings["epochs"] = self.epochs
        name = self.generator_name(kind)
        config_class = registry.get(name).config_class
        if self.epochs is not None and "epochs" not in config_class.model_fields:
            raise ConfigError(f"generator {name!r} fits in one pass: --epochs does not apply")
        if self.dp_epsilon is not None:
            if "dp_epsilon" not in config_class.model_fields:
                raise ConfigError(
                    f"generator {self.generator!r} cannot train with differential privacy; "
                    "use dp (noisy marginals) or ctgan (DP-SGD)"
                )
            settings.update(dp_epsilon=self.dp_epsilon, dp_delta=self.dp_delta)
        try:
            config_class.model_validate(settings)  # fail before any work
        except ValidationError as exc:
            raise ConfigError(f"generator {name!r} settings: {problems_of(exc)}") from exc
        return settings

    def _check_sequence_settings(self) -> None:
        """What patient histories do not support (yet), refused before any work."""
        if self.generator not in (None, "auto") and registry.kind_of(self.generator) != "sequence":
            known = ", ".join(registry.builtin("sequence"))
            raise ConfigError(
                f"generator {self.generator!r} generates one row per patient; this data is "
                f"patient histories (a long table): use {known}"
            )
        for setting, given in (
            ("conditions", self.conditions),
            ("dp_epsilon", self.dp_epsilon is not None),
        ):
            if given:
                raise ConfigError(
                    f"{setting} is not supported for patient histories yet (table data only)"
                )

    @property
    def private(self) -> bool:
        return self.dp_epsilon is not None

    def sampling_pool(self, kind: str = "table") -> int:
        """Guided sampling fits a classifier on the real rows, outside any DP accounting: off
        under differential privacy, and for patient histories (it scores single rows)."""
        return 1 if self.private or kind == "sequence" else self.guidance_pool

    @property
    def dataset_name(self) -> str:
        if self.dataset:
            return self.dataset
        return dataset_name_of(self.data)

    def fingerprint(self) -> str:
        """Hash of what determines the result (not where it is written or how it is shown)."""
        relevant = self.model_dump(
            mode="json",
            exclude={"output", "progress", "dataset", "retrain", "train_pickup_timeout"},
        )
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()
