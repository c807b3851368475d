"""Parameter search spaces: grid, random and genetic candidates (pure, deterministic given a seed)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Candidate = dict[str, Any]


class SearchSpaceError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Dimension:
    name: str
    values: tuple[Any, ...]


def dimensions(space: Mapping[str, Mapping[str, Any]], schema: Mapping[str, Any]) -> list[Dimension]:
    """{name: {"min", "max", "step"} | {"values": [...]}} checked against the strategy's JSON schema."""
    properties = schema.get("properties", {})
    result = []
    for name, spec in space.items():
        prop = properties.get(name)
        if prop is None:
            raise SearchSpaceError(name, f"not a parameter of this strategy (known: {', '.join(properties)})")
        if "values" in spec:
            values = tuple(spec["values"])
            if not values:
                raise SearchSpaceError(name, "give at least one value")
        else:
            try:
                low, high, step = spec["min"], spec["max"], spec.get("step", 1)
            except KeyError:
                raise SearchSpaceError(name, "give min and max (and step), or a list of values") from None
            if not (isinstance(low, int | float) and isinstance(high, int | float) and isinstance(step, int | float)):
                raise SearchSpaceError(name, "min, max and step must be numbers")
            if step <= 0 or high < low:
                raise SearchSpaceError(name, "needs min <= max and a positive step")
            count = round((high - low) / step) + 1
            if count > 10_000:
                raise SearchSpaceError(name, f"{count} values is too many; use a larger step")
            integer = prop.get("type") == "integer"
            values = tuple(round(low + i * step) if integer else round(low + i * step, 10) for i in range(count))
        for value in values:
            _check_bounds(name, prop, value)
        result.append(Dimension(name, tuple(dict.fromkeys(values))))
    if not result:
        raise SearchSpaceError("param_space", "choose at least one parameter to vary")
    return result


def _check_bounds(name: str, prop: Mapping[str, Any], value: Any) -> None:
    if "enum" in prop and value not in prop["enum"]:
        raise SearchSpaceError(name, f"{value!r} is not one of {prop['enum']}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in prop and value < prop["minimum"]:
            raise SearchSpaceError(name, f"{value} is below the minimum {prop['minimum']}")
        if "exclusiveMinimum" in prop and value <= prop["exclusiveMinimum"]:
            raise SearchSpaceError(name, f"{value} must be above {prop['exclusiveMinimum']}")
        if "maximum" in prop and value > prop["maximum"]:
            raise SearchSpaceError(name, f"{value} is above the maximum {prop['maximum']}")


def space_size(dims: Sequence[Dimension]) -> int:
    size = 1
    for dim in dims:
        size *= len(dim.values)
    return size


def grid(dims: Sequence[Dimension], limit: int) -> list[Candidate]:
    """Every combination, in order, up to `limit`."""
    names = [dim.name for dim in dims]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.islice(itertools.product(*(dim.values for dim in dims)), limit)]


def random_sample(dims: Sequence[Dimension], count: int, seed: int) -> list[Candidate]:
    """`count` distinct combinations drawn uniformly (all of them when the space is smaller)."""
    total = space_size(dims)
    if total <= count:
        return grid(dims, total)
    rng = random.Random(seed)
    chosen: dict[tuple[Any, ...], None] = {}
    while len(chosen) < count:
        chosen[tuple(rng.choice(dim.values) for dim in dims)] = None
    names = [dim.name for dim in dims]
    return [dict(zip(names, combo, strict=True)) for combo in chosen]


def next_generation(dims: Sequence[Dimension], scored: Sequence[tuple[Candidate, float]], size: int, seed: int, seen: set[tuple[Any, ...]]) -> list[Candidate]:
    """Tournament selection of parents, uniform crossover, one-step mutation; never a candidate already tried."""
    rng = random.Random(seed)
    names = [dim.name for dim in dims]
    ranked = sorted(scored, key=lambda item: item[1], reverse=True)
    parents = [candidate for candidate, _ in ranked[: max(2, len(ranked) // 2)]]
    children: dict[tuple[Any, ...], Candidate] = {}
    attempts = 0
    while len(children) < size and attempts < size * 50:
        attempts += 1
        mother, father = rng.sample(parents, 2) if len(parents) >= 2 else (parents[0], parents[0])
        child = {name: (mother if rng.random() < 0.5 else father)[name] for name in names}
        if rng.random() < 0.3:
            dim = rng.choice(list(dims))
            index = dim.values.index(child[dim.name]) if child[dim.name] in dim.values else 0
            child[dim.name] = dim.values[max(0, min(len(dim.values) - 1, index + rng.choice((-1, 1))))]
        key = tuple(child[name] for name in names)
        if key not in seen and key not in children:
            children[key] = child
    return list(children.values())
