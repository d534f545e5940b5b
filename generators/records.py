"""Whole patient records across tables: a schema of keys, and a model that generates every table
of a record consistently (issue 23's engine; the pipeline, GX validation and report come later).

- **Schema** (``RecordSchema``): each table's primary key, its foreign keys (column -> parent
  table, which the parent's primary key answers), whether it is a dictionary (copied, never
  synthesised: diagnosis code lists), other id columns (renumbered), and date-containment rules
  (``ICUSTAYS.intime`` within ``ADMISSIONS.admittime .. dischtime``). ``infer_schema`` proposes
  one from the data; ``tasks.records.check_records`` reports what the data breaks.
- **Generation** (``RecordsModel``), parents first:
  - every table is one frame for a table generator: its own columns, without keys, plus the
    number of its children in each child table (``n.<child>``), so a parent's attributes and its
    child counts are learnt together;
  - a child table's generator also sees its parent's frame (``parent.<column>``, first in the
    visit sequence) and draws each child given its own parent (``Cart.sample_given``), as many
    as the parent's drawn count;
  - dates of a child are offsets from its parent: a column under a containment rule as the share
    of the parent's interval (in [0, 1], so containment holds by construction), the row's first
    other date as hours after the parent's first date, later dates as hours after the row's first;
  - siblings in time: a child's first date (not under a rule) is learnt, for the first of its
    parent's children in time, as hours after the parent's first date and, for the later ones,
    as hours after the sibling before it: every sibling carries the first one's hours and its
    own gap (``#gap``, 0 for the first), so ages and gaps are never one distribution and
    neither is ever missing; with the child's place among its siblings
    (``parent.#sibling``, capped at ``MAX_SIBLING``) given beside the parent's columns. So a
    patient's admissions follow each other by the gaps real readmissions have, instead of
    each drawing an age of its own (which set one patient's admissions decades apart);
  - fresh keys everywhere, in a range no real key uses; a foreign key to an ancestor follows the
    chain; a second parent that is not an ancestor (a prescription's ICU stay) is drawn among the
    synthetic rows under the same common ancestor, missing as often as in the real rows;
  - dictionary codes only from the dictionary;
  - a declared outcome (``targets``: table -> column, from the run's record-level prediction)
    is its table's target: drawn last, from cart's bagged forest, given the parent's columns,
    the row's own and its child counts.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from generators import registry
from generators.schema import infer_spec

ID_NAME = re.compile(r"(^id$|_id$|^id_|key$|_code$)", re.IGNORECASE)
COUNT = "n."
MIN_HELD = 0.95  # share of a column's values a table's key must hold to be inferred its parent
PARENT = "parent."
SIBLING = PARENT + "#sibling"  # a child's place among its parent's children in time (0 = first)
MAX_SIBLING = 3
GAP = "#gap"  # a later sibling's first date: hours after the sibling before it


class ForeignKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    column: str
    parent: str
    max_orphans: float = Field(0.0, ge=0, le=1, description="share of rows allowed no parent")
    optional: bool = False  # may be empty: never the parent a table is generated under


class TableSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    primary_key: str | None = None
    foreign_keys: list[ForeignKey] = []
    dictionary: bool = False
    ids: list[str] = []  # other unique id columns: renumbered, never modelled


class DateRule(BaseModel):
    """``table.column`` falls within ``parent.start .. parent.end`` of its row's parent."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    table: str
    column: str
    parent: str
    start: str
    end: str
    by_day: bool = False  # a date without time: compared with the parent's days
    max_violations: float = Field(
        0.0, ge=0, le=1, description="share of real rows that may break it"
    )

    def describe(self) -> str:
        return f"{self.table}.{self.column} within {self.parent}.{self.start}..{self.end}"


class RecordSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    tables: dict[str, TableSchema]
    dates: list[DateRule] = []

    @model_validator(mode="after")
    def _consistent(self) -> RecordSchema:
        for name, table in self.tables.items():
            for fk in table.foreign_keys:
                parent = self.tables.get(fk.parent)
                if parent is None or parent.primary_key is None:
                    raise ValueError(
                        f"schema: {name}.{fk.column} refers to {fk.parent}, which is not a "
                        "table with a primary key in the schema"
                    )
        for rule in self.dates:
            if self.primary_parent(rule.table) != rule.parent:
                raise ValueError(
                    f"schema: date rule {rule.describe()}: {rule.parent} is not the parent "
                    f"{rule.table} is generated under ({self.primary_parent(rule.table)})"
                )
        self.order()  # refuses cycles
        return self

    @classmethod
    def from_yaml(cls, text: str) -> RecordSchema:
        return cls.model_validate(yaml.safe_load(text))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", exclude_defaults=True), sort_keys=False)

    def synthesised(self) -> list[str]:
        return [n for n, t in self.tables.items() if not t.dictionary]

    def links(self, name: str) -> list[ForeignKey]:
        """Foreign keys of ``name`` to tables that are synthesised (not dictionaries)."""
        return [fk for fk in self.tables[name].foreign_keys if fk.parent in self.synthesised()]

    def link(self, name: str, parent: str) -> str:
        """The column of ``name`` that refers to ``parent``."""
        return next(fk.column for fk in self.links(name) if fk.parent == parent)

    def key_columns(self, name: str) -> set[str]:
        """The key columns of ``name`` (its primary key, other ids, links to synthesised
        tables): renumbered or followed, never learnt or compared as values."""
        table = self.tables[name]
        return {table.primary_key, *table.ids, *(fk.column for fk in self.links(name))}

    def order(self) -> list[str]:
        """Synthesised tables, every one after all the tables it refers to."""
        done: list[str] = []
        pending = self.synthesised()
        while pending:
            ready = [
                n
                for n in pending
                if all(fk.parent in done for fk in self.links(n) if fk.parent != n)
            ]
            if not ready:
                raise ValueError(f"schema: the foreign keys of {pending} form a cycle")
            done += ready
            pending = [n for n in pending if n not in ready]
        return done

    def depth(self, name: str) -> int:
        links = [fk for fk in self.links(name) if fk.parent != name]
        return 0 if not links else 1 + max(self.depth(fk.parent) for fk in links)

    def primary_parent(self, name: str) -> str | None:
        """The parent a table is generated under: its deepest required synthesised parent."""
        links = [fk.parent for fk in self.links(name) if fk.parent != name and not fk.optional]
        return max(links, key=self.depth) if links else None

    def ancestors(self, name: str) -> list[str]:
        chain, parent = [], self.primary_parent(name)
        while parent is not None:
            chain.append(parent)
            parent = self.primary_parent(parent)
        return chain

    def children(self, name: str) -> list[str]:
        return [n for n in self.order() if self.primary_parent(n) == name]

    def descendants(self, name: str) -> list[str]:
        return [d for c in self.children(name) for d in (c, *self.descendants(c))]

    def record_root(self) -> str:
        """The table whose rows are the records (patients): the root with most tables under it."""
        roots = [n for n in self.order() if self.primary_parent(n) is None]
        return max(roots, key=lambda n: len(self.descendants(n)))


def infer_schema(tables: dict[str, pd.DataFrame]) -> RecordSchema:
    """Keys from the data: a column unique in its table and named like an id (or shared by name
    with another table) is a key candidate; a same-named column elsewhere whose values it holds
    is a foreign key; a table nothing of its own refers out of, whose keys are mostly
    unreferenced, is a dictionary. Written to the run folder for the user to check."""
    unique = {
        name: [c for c in df.columns if df[c].notna().all() and df[c].is_unique and len(df) > 1]
        for name, df in tables.items()
    }
    names = {c for df in tables.values() for c in df.columns}
    shared = {c for c in names if sum(c in df.columns for df in tables.values()) > 1}

    def parent_of(column: str, child: str) -> tuple[str, float] | None:
        """(the table whose key holds most of the column's values, the share it misses)."""
        values = pd.Series(tables[child][column].dropna().unique())
        if not len(values) or column in unique[child]:  # one-to-one links: declare them
            return None
        held = {n: values.isin(tables[n][column]).mean() for n in tables if column in unique[n]}
        held = {n: h for n, h in held.items() if n != child and h >= MIN_HELD}
        if not held:
            return None
        best = max(held, key=lambda n: (held[n], tables[n][column].nunique()))
        missing = float((~tables[child][column].dropna().isin(tables[best][column])).mean())
        return best, missing

    fks: dict[str, list[ForeignKey]] = {n: [] for n in tables}
    referenced: dict[str, set[str]] = {n: set() for n in tables}
    for name, df in tables.items():
        for column in df.columns:
            if column not in shared:
                continue
            found = parent_of(column, name)
            if found is not None:
                parent, missing = found
                allowed = float(np.ceil(missing * 1000) / 1000)  # what the data shows, rounded up
                fks[name].append(
                    ForeignKey(
                        column=column,
                        parent=parent,
                        max_orphans=allowed,
                        optional=bool(df[column].isna().any()),
                    )
                )
                referenced[parent].add(column)
    schema_tables = {}
    for name, df in tables.items():
        keys = [c for c in unique[name] if ID_NAME.search(c) or c in referenced[name]]
        own_fk = {fk.column for fk in fks[name]}
        keys = [c for c in keys if c not in own_fk]
        primary = next((c for c in keys if c in referenced[name]), None)
        if primary is None:
            specific = [c for c in keys if c.lower() not in ("row_id", "id")]
            primary = (specific or keys or [None])[0]
        used = 1.0
        if primary is not None and referenced[name]:
            refs = [tables[c][fk.column] for c in tables for fk in fks[c] if fk.parent == name]
            used = float(df[primary].isin(pd.concat(refs)).mean())
        dictionary = not fks[name] and bool(referenced[name]) and used < 0.5
        schema_tables[name] = TableSchema(
            primary_key=primary,
            foreign_keys=fks[name],
            dictionary=bool(dictionary),
            ids=[c for c in keys if c != primary],
        )
    return RecordSchema(tables=schema_tables)


def date_columns(df: pd.DataFrame) -> list[str]:
    """Columns holding dates: datetime dtypes, or text that parses as dates in every row."""
    out = []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            out.append(c)
        elif s.dtype == object or pd.api.types.is_string_dtype(s):
            present = s.dropna().astype(str)
            if len(present) and present.str.match(r"^\d{4}-\d{2}-\d{2}").all():
                if pd.to_datetime(present, errors="coerce").notna().all():
                    out.append(c)
    return out


def parse_dates(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, df in tables.items():
        df = df.copy()
        for c in date_columns(df):
            # seconds, not nanoseconds: shifted birth dates sit 300 years before admissions,
            # beyond what a nanosecond difference holds
            df[c] = pd.to_datetime(df[c]).astype("datetime64[s]")
        out[name] = df
    return out


class RecordsModel:
    """Every synthesised table of a schema, parents first (module doc)."""

    def __init__(
        self,
        family: str = "cart",
        settings: dict[str, Any] | None = None,
        targets: dict[str, str] | None = None,
    ):
        if family != "cart":
            raise ValueError(
                f"records: family {family!r} cannot draw rows given their parent; use cart"
            )
        self.family = family
        # the parent's columns open every visit sequence; a declared outcome closes its table's
        # (drawn from the bagged forest, given the row and its child counts)
        self.settings = {**(settings or {}), "order": "target_last"}
        self.targets = dict(targets or {})
        self.models: dict[str, Any] = {}
        self.schema: RecordSchema | None = None
        self.real: dict[str, pd.DataFrame] = {}
        self.null_share: dict[tuple[str, str], float] = {}
        self.bases: dict[str, dict[str, str]] = {}  # per table: date -> the date it follows

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, tables: dict[str, pd.DataFrame], schema: RecordSchema, seed: int = 0) -> None:
        tables = parse_dates({n: tables[n] for n in schema.tables})
        self.schema = schema  # tables are checked against it before (tasks.records)
        tables = self._without_orphans(tables)
        self.real = tables
        order = schema.order()
        self.bases = {n: _choose_bases(tables[n], self._dates(n, tables[n])[0]) for n in order}
        frames = {name: self._own(name, tables[name], tables) for name in order}
        for name in order:  # each parent learns how many children it has, with its attributes
            parent = schema.primary_parent(name)
            if parent is None:
                continue
            counts = tables[name][schema.link(name, parent)].value_counts()
            pk = tables[parent][schema.tables[parent].primary_key]
            frames[parent][COUNT + name] = pk.map(counts).fillna(0).astype(int).to_numpy()
        for k, name in enumerate(order):
            data = frames[name]
            parent = schema.primary_parent(name)
            if parent is not None:
                rows = self._parent_rows(name, parent, tables)
                context = frames[parent].iloc[rows].add_prefix(PARENT).reset_index(drop=True)
                data = pd.concat([context, data.reset_index(drop=True)], axis=1)
            for fk in schema.links(name):
                if fk.parent not in (parent, *schema.ancestors(name)):
                    self.null_share[(name, fk.column)] = float(
                        tables[name][fk.column].isna().mean()
                    )
            target = self.targets.get(name)
            if target is not None and target not in data.columns:
                raise ValueError(f"records: table {name} has no outcome column {target!r}")
            spec = infer_spec(data, name=name, target=target)
            if parent is not None:  # the parent's columns as the parent's generator knows them,
                # so a synthetic parent unlike any real parent with children is still a condition
                spec = _with_parent_columns(spec, self.models[parent].spec)
            model = registry.create(self.family, self.settings)
            model.fit(data, spec, seed=seed + k)
            self.models[name] = model

    def _without_orphans(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        """Rows whose parent or dictionary code is missing (as the schema allows) are not learnt
        from: a synthetic row always has its parent, a code always its dictionary entry."""
        out = dict(tables)
        for name in self.schema.order():
            df = out[name]
            keep = np.ones(len(df), dtype=bool)
            for fk in self.schema.tables[name].foreign_keys:
                pk = self.schema.tables[fk.parent].primary_key
                present = df[fk.column].notna()
                keep &= ~present | df[fk.column].isin(out[fk.parent][pk])
            primary = self.schema.primary_parent(name)
            if primary is not None:
                keep &= df[self.schema.link(name, primary)].notna()
            out[name] = df[keep].reset_index(drop=True)
        return out

    def _parent_rows(self, name: str, parent: str, tables: dict[str, pd.DataFrame]) -> np.ndarray:
        """The row of ``parent`` each row of ``name`` belongs to."""
        pk = tables[parent][self.schema.tables[parent].primary_key]
        position = pd.Series(np.arange(len(pk)), index=pk.to_numpy())
        return position.loc[tables[name][self.schema.link(name, parent)].to_numpy()].to_numpy()

    def _dates(self, name: str, df: pd.DataFrame) -> tuple[list[str], dict[str, DateRule]]:
        dates = [c for c in df.columns if pd.api.types.is_datetime64_any_dtype(df[c])]
        rules = {r.column: r for r in self.schema.dates if r.table == name}
        return dates, rules

    def _sequenced(self, name: str, df: pd.DataFrame) -> bool:
        """Whether the table's first date is learnt in time order among siblings: it has a
        parent with a date and no containment rule holds that first date."""
        parent = self.schema.primary_parent(name)
        anchor = self._anchor(name, df)
        if parent is None or anchor is None or anchor in self._dates(name, df)[1]:
            return False
        return self._anchor(parent, self.real[parent]) is not None

    def _anchor(self, name: str, df: pd.DataFrame) -> str | None:
        """The row's first date: later dates of the row are hours after it."""
        return next(iter(self._dates(name, df)[0]), None)

    def _own(self, name: str, df: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
        """The columns a table's generator learns: no keys; dates after a row's first as hours
        after an earlier one (``_choose_bases``); a child's first date as hours after its
        parent's (or its share of the parent's interval, under a rule)."""
        keys = self.schema.key_columns(name)
        df = df.reset_index(drop=True)
        frame = df[[c for c in df.columns if c not in keys]].copy()
        parent = self.schema.primary_parent(name)
        dates, rules = self._dates(name, df)
        anchor = self._anchor(name, df)
        up, parent_anchor = None, None  # a root's first date stays a date
        if parent is not None:
            rows = self._parent_rows(name, parent, tables)
            up = tables[parent].iloc[rows].reset_index(drop=True)
            parent_anchor = self._anchor(parent, tables[parent])
        if self._sequenced(name, df):
            rank, previous = _siblings(rows, df[anchor])
            frame.insert(0, SIBLING, np.minimum(rank, MAX_SIBLING))
        for c in dates:
            when = frame[c]
            if c in rules:
                start, end = self._interval(rules[c], up)
                span = _hours(end, start)
                share = _hours(when, start) / np.where(span > 0, span, np.nan)
                frame[c] = np.clip(
                    np.where(span > 0, share, np.where(when.notna(), 0.0, np.nan)), 0, 1
                )
            elif c == anchor:
                if SIBLING in frame:  # ages and gaps in two columns, neither ever missing
                    hours = pd.Series(_hours(when, up[parent_anchor]))
                    first = hours.where(rank == 0).groupby(rows).transform("max")
                    frame[c] = first.fillna(hours).to_numpy()  # the first sibling's, for all
                    gap = np.where(rank == 0, 0.0, _hours(when, previous))
                    frame.insert(frame.columns.get_loc(c) + 1, GAP, gap)
                elif parent_anchor is not None:
                    frame[c] = _hours(when, up[parent_anchor])
            else:
                base = _base(df, self.bases[name][c], anchor)
                frame[c] = _hours(when, base)
        return frame

    @staticmethod
    def _interval(rule: DateRule, up: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        start, end = up[rule.start], up[rule.end]
        if rule.by_day:
            start, end = start.dt.normalize(), end.dt.normalize()
        return start, end

    # -- sampling -----------------------------------------------------------------------------
    def sample(self, seed: int = 0, roots: int | None = None) -> dict[str, pd.DataFrame]:
        """Synthetic tables (dictionaries copied as they are); ``roots`` records (patients:
        rows of the record root; default as many as it learnt from; other roots as many)."""
        if self.schema is None:
            raise RuntimeError("records: fit before sampling")
        schema, rng = self.schema, np.random.default_rng(seed)
        frames: dict[str, pd.DataFrame] = {}
        up_rows: dict[str, np.ndarray] = {}
        out: dict[str, pd.DataFrame] = {}
        for k, name in enumerate(schema.order()):
            parent = schema.primary_parent(name)
            if parent is None:
                n = len(self.real[name])
                if roots is not None and name == schema.record_root():
                    n = roots
                frame = self.models[name].sample(n, seed=seed + 1009 * k)
            else:
                counts = frames[parent][COUNT + name].fillna(0).round().clip(lower=0)
                rows = np.repeat(np.arange(len(frames[parent])), counts.astype(int).to_numpy())
                context = frames[parent].iloc[rows].add_prefix(PARENT).reset_index(drop=True)
                if self._sequenced(name, self.real[name]):
                    rank = pd.Series(rows).groupby(rows).cumcount().to_numpy()
                    context.insert(len(context.columns), SIBLING, np.minimum(rank, MAX_SIBLING))
                drawn = self.models[name].sample_given(context, seed=seed + 1009 * k)
                frame = drawn[
                    [c for c in drawn.columns if not c.startswith(PARENT) or c == SIBLING]
                ]
                up_rows[name] = rows
            frames[name] = frame.reset_index(drop=True)
            out[name] = self._decode(name, frames[name], out, up_rows, rng)
        for name, table in schema.tables.items():
            if table.dictionary:
                out[name] = self.real[name].copy()
        return out

    def _decode(
        self,
        name: str,
        frame: pd.DataFrame,
        out: dict[str, pd.DataFrame],
        up_rows: dict[str, np.ndarray],
        rng: np.random.Generator,
    ) -> pd.DataFrame:
        schema, real = self.schema, self.real[name]
        table = schema.tables[name]
        n = len(frame)
        df = frame[[c for c in frame.columns if not c.startswith(COUNT)]].copy()
        for key in [table.primary_key, *table.ids]:
            if key is not None:
                df[key] = _fresh(real[key], n)
        parent = schema.primary_parent(name)
        dates, rules = self._dates(name, real)
        anchor = self._anchor(name, real)
        if dates:
            up, parent_anchor = None, None
            if parent is not None:
                up = out[parent].iloc[up_rows[name]].reset_index(drop=True)
                parent_anchor = self._anchor(parent, self.real[parent])
            for c in [c for c in dates if c in rules]:
                start, end = self._interval(rules[c], up)
                share = df[c].astype(float).clip(0, 1).to_numpy()
                when = _add_hours(start, _hours(end, start) * share)
                df[c] = when.dt.floor("D") if rules[c].by_day else when
            if anchor not in rules and anchor is not None and parent_anchor is not None:
                hours = df[anchor].astype(float)
                if SIBLING in df:  # the first after the parent's date, each later one after it
                    rows = up_rows[name]
                    later = pd.Series(rows).groupby(rows).cumcount().to_numpy() > 0
                    hours = hours.where(~later, df[GAP].astype(float).clip(lower=0))
                    hours = hours.groupby(rows).cumsum()
                df[anchor] = _add_hours(up[parent_anchor], hours.to_numpy())
            for c in dates:  # in order: each after its base date (or the row's first)
                if c not in rules and c != anchor:
                    base = _base(df, self.bases[name][c], anchor)
                    df[c] = _add_hours(base, df[c].astype(float).to_numpy())
            for c in dates:  # dates without a time stay so
                if (real[c].dropna() == real[c].dropna().dt.normalize()).all():
                    df[c] = df[c].dt.floor("D")
        for fk in schema.links(name):
            df[fk.column] = self._foreign(name, fk, n, out, up_rows, rng)
        return df[[c for c in real.columns]]

    def _key_rows(self, name: str, rows: np.ndarray, ancestor: str, up_rows: dict) -> np.ndarray:
        """The rows of ``ancestor`` that rows of ``name`` descend from."""
        while name != ancestor:
            rows, name = up_rows[name][rows], self.schema.primary_parent(name)
        return rows

    def _foreign(
        self,
        name: str,
        fk: ForeignKey,
        n: int,
        out: dict[str, pd.DataFrame],
        up_rows: dict[str, np.ndarray],
        rng: np.random.Generator,
    ) -> pd.Series:
        schema = self.schema
        pk = schema.tables[fk.parent].primary_key
        keys = out[fk.parent][pk]
        chain = schema.ancestors(name)
        rows = np.arange(n)
        if fk.parent in chain:  # the parent, or an ancestor through the parent
            picked = self._key_rows(name, rows, fk.parent, up_rows)
            return keys.iloc[picked].reset_index(drop=True)
        # a second parent: one under the same common ancestor, missing as often as in real rows
        common = next((a for a in chain if a in [fk.parent, *schema.ancestors(fk.parent)]), None)
        value = pd.Series([None] * n, dtype=object)
        if common is None:
            groups = {None: np.arange(len(keys))}
            mine = np.full(n, None)
        else:
            theirs = self._key_rows(fk.parent, np.arange(len(keys)), common, up_rows)
            groups = pd.Series(np.arange(len(keys))).groupby(theirs).apply(np.asarray).to_dict()
            mine = self._key_rows(name, rows, common, up_rows)
        missing = rng.random(n) < self.null_share.get((name, fk.column), 0.0)
        for i in range(n):
            options = groups.get(mine[i])
            if not missing[i] and options is not None and len(options):
                value.iloc[i] = keys.iloc[int(rng.choice(options))]
        return value.astype(keys.dtype) if not value.isna().any() else value


def records_of(
    tables: dict[str, pd.DataFrame], schema: RecordSchema, roots: set[Any]
) -> dict[str, pd.DataFrame]:
    """The whole records of the root rows whose key is in ``roots`` (every row under them, by
    each table's parent); dictionaries whole. For splits that keep a patient on one side."""
    out: dict[str, pd.DataFrame] = {}
    for name in schema.order():
        parent = schema.primary_parent(name)
        df = tables[name]
        if parent is None:
            keep = df[schema.tables[name].primary_key].isin(roots)
        else:
            keep = df[schema.link(name, parent)].isin(
                out[parent][schema.tables[parent].primary_key]
            )
        out[name] = df[keep].reset_index(drop=True)
    for name, table in schema.tables.items():
        if table.dictionary:
            out[name] = tables[name]
    return out


def _with_parent_columns(spec: Any, parent: Any) -> Any:
    """``spec`` with its ``parent.`` columns as the parent's generator declares them."""
    known = {c.name: c for c in parent.columns}
    columns = []
    for c in spec.columns:
        own = known.get(c.name[len(PARENT) :]) if c.name.startswith(PARENT) else None
        if own is None:
            columns.append(c)
            continue
        update: dict[str, Any] = {"name": c.name}
        if getattr(own, "offset_from", None):
            update["offset_from"] = PARENT + own.offset_from
        columns.append(own.model_copy(update=update))
    return spec.model_copy(update={"columns": columns})


def _siblings(parents: np.ndarray, when: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Per row: its place among the rows of the same parent by ``when`` (0 = first; missing
    dates last) and the ``when`` of the sibling just before it (NaT for the first)."""
    order = pd.DataFrame({"p": parents, "t": pd.Series(when).to_numpy()})
    order = order.sort_values(["p", "t"], kind="stable", na_position="last")
    rank = order.groupby("p").cumcount().sort_index().to_numpy()
    previous = order.groupby("p")["t"].shift(1).sort_index().reset_index(drop=True)
    return rank, previous


def _base(df: pd.DataFrame, base: str, anchor: str) -> pd.Series:
    """Per row, ``base`` where the row has it, else the row's first date (``anchor``)."""
    first = pd.Series(df[anchor].to_numpy(dtype="datetime64[s]"))
    value = pd.Series(df[base].to_numpy(dtype="datetime64[s]"))
    return value.where(value.notna(), first)


def _choose_bases(df: pd.DataFrame, dates: list[str]) -> dict[str, str]:
    """For each date after the row's first: the earlier date it is learnt after, the one its
    gap to varies least in the real rows (interquartile range of the hours; a death date after
    the discharge is often 0), among those present with it in most rows; else the first."""
    bases = {}
    for i, c in enumerate(dates[1:], start=1):
        best, spread = dates[0], np.inf
        for b in dates[:i]:
            gap = _hours(df[c], df[b])
            gap = gap[~np.isnan(gap)]
            if len(gap) < 0.5 * df[c].notna().sum() or not len(gap):
                continue
            iqr = float(np.subtract(*np.percentile(gap, [75, 25])))
            if iqr < spread:
                best, spread = b, iqr
        bases[c] = best
    return bases


def _hours(later: pd.Series, earlier: pd.Series) -> np.ndarray:
    """Hours from ``earlier`` to ``later`` (NaN where either is missing), in seconds' precision."""
    a = pd.Series(later).to_numpy(dtype="datetime64[s]")
    b = pd.Series(earlier).to_numpy(dtype="datetime64[s]")
    out = (a - b).astype("int64").astype(float) / 3600.0
    out[np.isnat(a) | np.isnat(b)] = np.nan
    return out


def _add_hours(when: pd.Series, hours: np.ndarray) -> pd.Series:
    """``when`` plus ``hours`` (NaT where either is missing), in seconds' precision."""
    base = pd.Series(when).to_numpy(dtype="datetime64[s]")
    hours = np.asarray(hours, dtype=float)
    ok = ~np.isnat(base) & ~np.isnan(hours)
    out = np.full(len(base), np.datetime64("NaT"), dtype="datetime64[s]")
    out[ok] = base[ok] + np.round(hours[ok] * 3600).astype("int64").astype("timedelta64[s]")
    return pd.Series(out)


def _fresh(real: pd.Series, n: int) -> pd.Series:
    """New keys in a range no real key uses: numbers from the next power of ten above the
    largest real one, text as ``S<number>``."""
    if pd.api.types.is_numeric_dtype(real) and len(real.dropna()):
        top = int(np.nanmax(np.abs(real.to_numpy(dtype=float))))
        start = 10 ** len(str(top))
        return pd.Series(np.arange(start, start + n, dtype=np.int64))
    return pd.Series([f"S{i + 1}" for i in range(n)], dtype=object)
