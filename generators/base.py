"""The one generator interface.

``fit`` checks the table against its spec, fits the reversible transforms and hands the encoded
rows to the model's ``_fit`` (an ``EncodedTable``: one-hot blocks stay integer codes until a model
expands a batch, so a column with thousands of codes fits in memory); ``sample`` decodes the
model's ``_sample`` back into a table with the input's columns, order and dtypes, and fresh ids,
a bounded number of cells at a time. A model implements only the matrix part.

A checkpoint is JSON metadata + a tensor state dict (``save``/``load``): no pickled objects, and it
alone is enough to sample again. A training checkpoint (``Checkpointing``) adds the optimisers and
random states, so a fit that was interrupted continues where it stopped and ends with the same
weights as one that never was.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict

from generators.conditions import Condition, ConditionError, meets, resolve
from generators.constraints import breaking_any
from generators.layout import EncodedTable
from generators.schema import DatasetSpec
from generators.transforms import TableTransformer

EpochCallback = Callable[[int, int, dict[str, float]], None]  # (epoch, epochs, losses)
RandomState = np.random.Generator | torch.Generator
CHECKPOINT_FILES = ("model.json", "weights.pt")
DECODE_CELLS = 1 << 22  # encoded cells decoded at once when sampling (16 MB of float32)
MAX_CONDITION_ROUNDS = 8


class GeneratorConfig(BaseModel):
    """Settings every generator shares; models extend it with their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = "auto"  # "auto" picks cuda when present
    threads: int | None = None  # torch CPU threads; None: one per core, at most 4


class ResumeError(ValueError):
    """A training checkpoint that does not belong to this fit (other data, settings or model)."""


@dataclass
class Checkpointing:
    """Mid-training checkpoints for a model that trains in epochs.

    Every ``every`` epochs (not after the last) ``save`` receives one self-contained file that
    replaces the previous one; ``resume``, when given, is such a file to continue from.
    """

    every: int
    save: Callable[[bytes], None]
    resume: bytes | None = None


@dataclass
class FitReport:
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    privacy: dict[str, Any] | None = None  # the spent (epsilon, delta) of a private fit
    resumed_from: int | None = None  # the epoch a resumed fit continued after

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / max(self.epochs, 1)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 matrices in hardware: a CUDA GPU from Ampere on, or
    a CPU with AVX512-BF16 or AMX. Elsewhere bfloat16 is emulated and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


def mixed_precision(
    precision: str, device: torch.device, model: str
) -> contextlib.AbstractContextManager:
    """The context a training step's forward passes run in. ``bf16``: autocast, so matrix
    products run in bfloat16 while weights, optimiser states and gradients stay float32 (no loss
    scaling is needed: bfloat16 has float32's range). Refused where it would only be slower."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if not native_bf16(device):
        raise ValueError(
            f"{model}: precision 'bf16' needs native bfloat16 (a CUDA GPU from Ampere on, or a CPU "
            f"with AVX512-BF16 or AMX); device {device} has none: use precision 'fp32'"
        )
    return torch.autocast(device.type, dtype=torch.bfloat16)


@torch.no_grad()
def update_average(
    average: torch.nn.Module, current: torch.nn.Module, decay: float, step: int
) -> None:
    """Exponential moving average of ``current``'s weights into ``average`` (buffers such as
    batch-norm statistics are copied). Warm-up: early on the average would be dominated by the
    untrained initial weights, so the decay grows with the step up to ``decay``."""
    rate = min(decay, (1 + step) / (10 + step))
    torch._foreach_lerp_(list(average.parameters()), list(current.parameters()), 1.0 - rate)
    for avg_buf, buf in zip(average.buffers(), current.buffers(), strict=True):
        avg_buf.copy_(buf)


def prefixed(tensors: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """The tensors under ``prefix``, without it (one module's state dict from a flat one)."""
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def pack_checkpoint(meta: dict[str, Any], tensors: Mapping[str, torch.Tensor]) -> dict[str, bytes]:
    """A model's files: ``model.json`` (readable settings) and ``weights.pt`` (tensors only)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in tensors.items()}, buffer)
    return {
        "model.json": json.dumps(meta, indent=1, default=_json_default).encode(),
        "weights.pt": buffer.getvalue(),
    }


def unpack_checkpoint(
    files: Mapping[str, bytes], name: str
) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(meta, tensors) of ``pack_checkpoint``'s files, refusing another model's; tensors are
    loaded with ``weights_only`` (no pickled objects)."""
    meta = json.loads(files["model.json"])
    if meta["generator"] != name:
        raise ValueError(f"checkpoint is for {meta['generator']!r}, not {name!r}")
    tensors = torch.load(io.BytesIO(files["weights.pt"]), map_location="cpu", weights_only=True)
    return meta, tensors


def set_threads(threads: int | None) -> None:
    # Small models on few cores: more threads than cores (or a busy neighbour) is much slower.
    torch.set_num_threads(threads or max(1, min(4, os.cpu_count() or 1)))


class Generator(ABC):
    """A synthetic-data model for one table."""

    name: ClassVar[str]
    config_class: ClassVar[type[GeneratorConfig]] = GeneratorConfig
    resumable: ClassVar[bool] = False  # trains in epochs and honours ``Checkpointing``

    def __init__(self, config: GeneratorConfig | Mapping[str, Any] | None = None):
        if isinstance(config, GeneratorConfig):
            config = config.model_dump()
        self.config = self.config_class.model_validate(dict(config or {}))
        self.spec: DatasetSpec | None = None
        self.transformer: TableTransformer | None = None
        self.dtypes: dict[str, str] = {}
        self.id_starts: dict[str, int] = {}
        self._checkpointing: Checkpointing | None = None
        self._resumed_from: int | None = None

    # -- public API --------------------------------------------------------------------------
    def fit(
        self,
        data: pd.DataFrame,
        spec: DatasetSpec,
        *,
        seed: int = 0,
        on_epoch: EpochCallback | None = None,
        checkpointing: Checkpointing | None = None,
    ) -> FitReport:
        """Fit on ``data``; with ``checkpointing``, save training state as it goes and, given a
        checkpoint to resume, continue from it (models without epochs ignore it)."""
        missing = [c for c in spec.names if c not in data.columns]
        if missing:
            raise ValueError(f"data lacks spec columns {missing}")
        if len(data) < 2:
            raise ValueError(f"need at least 2 rows to fit, got {len(data)}")
        self.spec = spec
        self.dtypes = {c: str(data[c].dtype) for c in spec.names}
        self.id_starts = {c: _id_start(data[c]) for c in spec.id_columns}
        set_threads(self.config.threads)
        torch.manual_seed(seed)
        self.transformer = self._fit_transformer(data, spec, seed)
        encoded = EncodedTable.encode(self.transformer, data, seed)
        self._checkpointing, self._resumed_from = checkpointing, None
        start = time.perf_counter()
        try:
            report = self._fit(encoded, seed=seed, on_epoch=on_epoch)
        finally:
            self._checkpointing = None
        report.seconds = time.perf_counter() - start
        report.resumed_from = self._resumed_from
        return report

    def sample(
        self,
        n: int,
        *,
        seed: int = 0,
        id_offset: int = 0,
        conditions: Mapping[str, Any] | None = None,
    ) -> pd.DataFrame:
        """``n`` rows; ``id_offset`` numbers fresh ids across chunks of one output.

        With ``conditions`` (column -> category) every row meets them: the model conditions on
        what it can (``_sample_given``) and rows that still miss are replaced, in a few rounds;
        a condition the model (almost) never produces raises a ``ConditionError``.
        """
        if self.spec is None or self.transformer is None:
            raise RuntimeError(f"{self.name}: fit or load before sampling")
        if n < 0:
            raise ValueError(f"cannot sample {n} rows")
        set_threads(self.config.threads)
        wanted = resolve(self.transformer, conditions or {}, self.spec.id_columns)
        chunk = max(1000, DECODE_CELLS // max(self.transformer.width, 1))
        if n <= chunk:
            table = self._sample_decoded(n, seed, wanted)
        else:  # wide tables: a bounded number of encoded cells at a time
            table = pd.concat(
                [
                    self._sample_decoded(min(chunk, n - start), seed + 104_729 * i, wanted)
                    for i, start in enumerate(range(0, n, chunk))
                ],
                ignore_index=True,
            )
        return self.assign_ids(table, id_offset)

    def _sample_decoded(self, n: int, seed: int, wanted: list[Condition]) -> pd.DataFrame:
        if n and (wanted or self.spec.constraints):
            return self._sample_valid(n, seed, wanted)
        matrix = self._sample(n, seed=seed) if n else np.zeros((0, self.transformer.width))
        return self.transformer.inverse(matrix)

    def _sample_valid(self, n: int, seed: int, wanted: list[Condition]) -> pd.DataFrame:
        """``n`` decoded rows meeting the conditions and keeping the spec's constraints: drawn
        towards the conditions, the rest replaced, the draw sized by the rate seen so far."""
        tables, have, drawn = [], 0, 0
        for round_ in range(MAX_CONDITION_ROUNDS):
            rate = have / drawn if drawn else 1.0
            size = int(min(np.ceil((n - have) / max(rate, 1e-3) * 1.1) + 16, 100 * n))
            draw_seed = seed + 7919 * round_
            matrix = (
                self._sample_given(size, seed=draw_seed, conditions=wanted)
                if wanted
                else self._sample(size, seed=draw_seed)
            )
            table = self.transformer.inverse(matrix[meets(matrix, wanted)])
            table = table[~breaking_any(table, self.spec)].iloc[: n - have]
            tables.append(table)
            have, drawn = have + len(table), drawn + size
            if have == n:
                return pd.concat(tables, ignore_index=True)
        asked = [f"{c.column}={c.value!r}" for c in wanted]
        asked += [rule.describe() for rule in self.spec.constraints]
        raise ConditionError(
            f"{self.name} produced {have} of {n} rows meeting {', '.join(asked)} in {drawn} "
            "draws: the combination is (almost) absent from what the model learnt"
        )

    def assign_ids(self, table: pd.DataFrame, id_offset: int = 0) -> pd.DataFrame:
        """Fresh ids numbered from ``id_offset`` (never a real id), columns in spec order and dtypes."""
        table = table.reset_index(drop=True)
        for col, first in self.id_starts.items():
            table[col] = _fresh_ids(self.dtypes[col], first + id_offset, len(table))
        return restore_dtypes(table[self.spec.names], self.dtypes)

    def save(self) -> dict[str, bytes]:
        """Checkpoint files: ``model.json`` (config, spec, transforms) and ``weights.pt``."""
        if self.spec is None or self.transformer is None:
            raise RuntimeError(f"{self.name}: nothing to save before fit")
        meta = {
            "generator": self.name,
            "config": self.config.model_dump(mode="json"),
            "spec": self.spec.model_dump(mode="json"),
            "transformer": self.transformer.to_dict(),
            "dtypes": self.dtypes,
            "id_starts": self.id_starts,
            "model": self._meta(),
        }
        return pack_checkpoint(meta, self._tensors())

    @classmethod
    def load(cls, files: Mapping[str, bytes]) -> Generator:
        meta, tensors = unpack_checkpoint(files, cls.name)
        model = cls(meta["config"])
        model.spec = DatasetSpec.model_validate(meta["spec"])
        model.transformer = TableTransformer.from_dict(meta["transformer"])
        model.dtypes = meta["dtypes"]
        model.id_starts = meta["id_starts"]
        model._restore(meta["model"], tensors)
        return model

    # -- training checkpoints (for models that train in epochs) -------------------------------
    def _identity(self) -> str:
        """What a training checkpoint must match: model, settings and the fitted transforms
        (refitted on resume from the same data and seed, so other data shows up here)."""
        return json.dumps(
            {
                "generator": self.name,
                "config": self.config.model_dump(mode="json"),
                "transformer": self.transformer.to_dict(),
            },
            sort_keys=True,
            default=_json_default,
        )

    def _resume_training(
        self,
        modules: Mapping[str, torch.nn.Module],
        optimisers: Mapping[str, torch.optim.Optimizer],
        randomness: Mapping[str, RandomState],
    ) -> tuple[int, list[dict[str, float]], dict[str, Any]]:
        """(first epoch to run, history so far, the model's extra state), loading a checkpoint
        given to ``fit`` into the freshly built modules, optimisers and random states."""
        given = self._checkpointing.resume if self._checkpointing else None
        if given is None:
            return 1, [], {}
        state = torch.load(io.BytesIO(given), map_location="cpu", weights_only=True)
        meta = json.loads(state["meta"])
        if meta["identity"] != self._identity():
            raise ResumeError(
                f"{self.name}: the training checkpoint was made with other data, settings or "
                "transforms; remove it or train afresh"
            )
        for name, module in modules.items():
            module.load_state_dict(prefixed(state["tensors"], f"{name}."))
        for name, optimiser in optimisers.items():
            optimiser.load_state_dict(state["optimisers"][name])
        for name, rng in randomness.items():
            if isinstance(rng, np.random.Generator):
                rng.bit_generator.state = meta["numpy_random"][name]
            else:
                rng.set_state(state["torch_random"][name])
        torch.set_rng_state(state["torch_random"]["global"])
        if "cuda" in state["torch_random"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(list(state["torch_random"]["cuda"]))
        self._resumed_from = meta["epoch"]
        return meta["epoch"] + 1, meta["history"], meta["extra"]

    def _end_epoch(
        self,
        epoch: int,
        epochs: int,
        history: list[dict[str, float]],
        modules: Mapping[str, torch.nn.Module],
        optimisers: Mapping[str, torch.optim.Optimizer],
        randomness: Mapping[str, RandomState],
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Save a training checkpoint when one is due (never after the last epoch: the final
        model is saved by ``save``)."""
        ck = self._checkpointing
        if ck is None or ck.every <= 0 or epoch % ck.every or epoch >= epochs:
            return
        meta = {
            "identity": self._identity(),
            "epoch": epoch,
            "history": history,
            "extra": dict(extra or {}),
            "numpy_random": {
                k: r.bit_generator.state
                for k, r in randomness.items()
                if isinstance(r, np.random.Generator)
            },
        }
        torch_random = {
            k: r.get_state() for k, r in randomness.items() if isinstance(r, torch.Generator)
        }
        torch_random["global"] = torch.get_rng_state()
        if torch.cuda.is_available():
            torch_random["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
        tensors = {
            f"{name}.{k}": v.detach().cpu()
            for name, module in modules.items()
            for k, v in module.state_dict().items()
        }
        buffer = io.BytesIO()
        torch.save(
            {
                "meta": json.dumps(meta, default=_json_default),
                "tensors": tensors,
                "optimisers": {k: o.state_dict() for k, o in optimisers.items()},
                "torch_random": torch_random,
            },
            buffer,
        )
        ck.save(buffer.getvalue())

    # -- what a model implements ------------------------------------------------------------
    def _fit_transformer(
        self, data: pd.DataFrame, spec: DatasetSpec, seed: int
    ) -> TableTransformer:
        """The column encoders; fitted on the data unless the model must not look at it."""
        return TableTransformer.fit(data, spec, seed)

    @abstractmethod
    def _fit(self, table: EncodedTable, *, seed: int, on_epoch: EpochCallback | None) -> FitReport:
        """Learn the encoded training rows (``table.dense(rows)`` gives them in the model order
        of ``table.layout``; ``layout.from_model`` puts a matrix back in transformer order)."""

    def _sample_given(self, n: int, *, seed: int, conditions: list[Condition]) -> np.ndarray:
        """Rows drawn towards ``conditions``; the default draws freely (rows that miss are
        replaced by the caller). Models that can condition override it."""
        del conditions
        return self._sample(n, seed=seed)

    @abstractmethod
    def _sample(self, n: int, *, seed: int) -> np.ndarray:
        """``n`` encoded rows, decodable by ``self.transformer.inverse``."""

    @abstractmethod
    def _meta(self) -> dict[str, Any]:
        """JSON-able model state other than tensors."""

    @abstractmethod
    def _tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor needed to sample again (and to resume training)."""

    @abstractmethod
    def _restore(self, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
        """Rebuild the model from ``_meta`` and ``_tensors`` output."""


def restore_dtypes(table: pd.DataFrame, dtypes: Mapping[str, str]) -> pd.DataFrame:
    """Cast decoded columns back to the input's dtypes (nullable ints where nulls appear)."""
    out = {}
    for col in table.columns:
        series, dtype = table[col], dtypes[col]
        if dtype.startswith(("int", "uint")) and series.isna().any():
            dtype = "Int64"
        elif dtype == "bool" and series.isna().any():
            dtype = "boolean"
        if dtype in ("str", "string", "object") or dtype.startswith("string"):
            out[col] = series.astype(dtype if dtype != "object" else object)
        else:
            out[col] = series.astype(dtype)
    return pd.DataFrame(out)


def _id_start(series: pd.Series) -> int:
    """Synthetic integer ids start past the real ones, so no real id is ever reused."""
    if pd.api.types.is_integer_dtype(series.dtype) and series.notna().any():
        return int(series.max()) + 1
    return 1


def _fresh_ids(dtype: str, first: int, n: int) -> pd.Series:
    numbers = np.arange(first, first + n)
    if dtype.startswith(("int", "uint", "Int")):
        return pd.Series(numbers)
    return pd.Series([f"syn-{i:07d}" for i in numbers], dtype=object)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
