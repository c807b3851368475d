"""Strategies by name: `register` (a class decorator), `get_strategy`, `create_strategy`, `list_strategies`.

The look-ups register the built-in strategies (`apps.strategies.domain.builtin`) first, so a
name is always found without a manual import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.strategies.domain.base import S, Strategy, StrategyParams, UnknownStrategy

_REGISTRY: dict[str, type[Strategy]] = {}


def register(cls: S) -> S:
    """Register a strategy class under its `name` (unique)."""
    name = cls.name
    if not name or not name.isidentifier():
        raise ValueError(f"{cls.__name__} needs a `name` that is an identifier")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ValueError(f"a strategy named {name!r} is already registered ({existing.__name__})")
    if not cls.description:
        raise ValueError(f"{cls.__name__} needs a description")
    _REGISTRY[name] = cls
    return cls


_builtins_registered = False


def _load_builtins() -> None:
    global _builtins_registered
    if _builtins_registered:
        return
    from apps.strategies.domain.builtin import BUILTIN_STRATEGIES

    for cls in BUILTIN_STRATEGIES:
        register(cls)
    _builtins_registered = True


def get_strategy(name: str) -> type[Strategy]:
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownStrategy(f"no strategy named {name!r}; known: {', '.join(sorted(_REGISTRY))}", extra={"name": name}) from None


def create_strategy(name: str, params: StrategyParams | Mapping[str, Any] | None = None) -> Strategy:
    return get_strategy(name)(params)


def list_strategy_names() -> list[str]:
    _load_builtins()
    return sorted(_REGISTRY)


def list_strategies() -> list[dict[str, Any]]:
    """Every registered strategy: name, description and the JSON schema of its parameters, by name."""
    _load_builtins()
    return [{"name": name, "description": cls.description, "schema": cls.Params.json_schema()} for name, cls in sorted(_REGISTRY.items())]
