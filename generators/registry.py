"""The explicit generator registry: names to classes, filled by ``@register``.

Built-in models live in their own modules and are imported on first use, so importing the
registry costs nothing and a broken model fails loudly when asked for, never disappears.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # the registry itself imports no model code (and so no torch)
    from generators.base import Generator

G = TypeVar("G", bound="type[Generator]")

_REGISTRY: dict[str, type[Generator]] = {}
_BUILTIN: dict[str, str] = {
    "cart": "generators.cart",
    "ctgan": "generators.ctgan",
    "dp": "generators.marginals",
    "forestflow": "generators.forestflow",
    "gaussian_copula": "generators.copula",
    "tabddpm": "generators.tabddpm",
    "tvae": "generators.tvae",
}


# generators of patient histories (long tables with sequence roles in the spec)
_BUILTIN_SEQUENCE: dict[str, str] = {"dgan": "generators.dgan", "signal": "generators.signal"}


class UnknownGeneratorError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(name: str) -> Callable[[G], G]:
    def decorate(cls: G) -> G:
        if name in _REGISTRY:
            raise ValueError(
                f"generator {name!r} is already registered by {_REGISTRY[name].__module__}"
            )
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def available() -> list[str]:
    return sorted(set(_REGISTRY) | set(_BUILTIN) | set(_BUILTIN_SEQUENCE))


def builtin(kind: str = "table") -> list[str]:
    """The generators synthcare ships for tables or for sequences (patient histories); others
    may be registered by users or tests."""
    return sorted(_BUILTIN if kind == "table" else _BUILTIN_SEQUENCE)


def kind_of(name: str) -> str:
    """ "table" or "sequence"; a built-in name is answered without importing its model."""
    if name not in _REGISTRY:
        if name in _BUILTIN:
            return "table"
        if name in _BUILTIN_SEQUENCE:
            return "sequence"
    return getattr(get(name), "kind", "table")


def check_known(name: str) -> str:
    """``name`` if a generator of that name exists (without importing a built-in's model)."""
    if name not in _REGISTRY and name not in _BUILTIN and name not in _BUILTIN_SEQUENCE:
        raise UnknownGeneratorError(f"unknown generator {name!r}; known: {', '.join(available())}")
    return name


def get(name: str) -> type[Generator]:
    check_known(name)
    if name not in _REGISTRY:  # a built-in: its module registers it on import
        importlib.import_module({**_BUILTIN, **_BUILTIN_SEQUENCE}[name])
    return _REGISTRY[name]


def create(name: str, config: dict | None = None) -> Generator:
    return get(name)(config)


def load(files: dict[str, bytes]) -> Generator:
    """Load any checkpoint written by ``Generator.save``."""
    import json

    return get(json.loads(files["model.json"])["generator"]).load(files)
