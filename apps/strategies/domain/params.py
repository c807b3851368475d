"""Strategy parameters: a frozen dataclass per strategy whose fields are declared with `param(...)`,
checked on construction (types, ranges, choices, then `check()`), described by `json_schema()`
for forms and the API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from apps.core.domain.money import AMOUNT_LIMIT
from apps.core.errors import ValidationError


class StrategyParameterError(ValidationError):
    """A parameter is missing, of the wrong type, out of range or inconsistent with another."""

    default_code = "strategy_parameter_invalid"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}", extra={"fields": {field: [message]}})
        self.message = message


# The largest price, quantity or quote amount a parameter takes (the API's limit for amounts).
AMOUNT_MAX = int(AMOUNT_LIMIT)

_JSON_TYPES = {"int": "integer", "float": "number", "bool": "boolean", "str": "string"}


def param(
    default: Any,
    *,
    description: str,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A strategy parameter: its default, range (inclusive unless `exclusive_minimum`), choices and description."""
    meta = {"description": description, "minimum": minimum, "maximum": maximum, "exclusive_minimum": exclusive_minimum, "choices": choices}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class StrategyParams:
    """Base of the per-strategy parameter dataclasses: fields are declared with `param(...)`.

    Types are checked (an int field refuses 1.5 and True; a float field takes ints), then the
    ranges and choices, then `check()` for relations between fields (fast < slow).
    """

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            object.__setattr__(self, f.name, _coerce(f.name, kind, value))
            _check_range(f, getattr(self, f.name))
        self.check()

    def check(self) -> None:
        """Relations between fields; raise `StrategyParameterError(field, message)`."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> StrategyParams:
        data = dict(data or {})
        names = {f.name for f in dataclasses.fields(cls)}
        for key in data:
            if key not in names:
                raise StrategyParameterError(key, "unknown parameter")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema of the parameters: type, default, minimum, maximum, enum and description per field."""
        properties: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            meta = f.metadata
            prop: dict[str, Any] = {"type": _JSON_TYPES[kind], "default": f.default, "description": meta.get("description", "")}
            if meta.get("minimum") is not None:
                prop["exclusiveMinimum" if meta.get("exclusive_minimum") else "minimum"] = meta["minimum"]
            if meta.get("maximum") is not None:
                prop["maximum"] = meta["maximum"]
            if meta.get("choices"):
                prop["enum"] = list(meta["choices"])
            properties[f.name] = prop
        return {"type": "object", "properties": properties, "required": [], "additionalProperties": False}


def _coerce(name: str, kind: str, value: Any) -> Any:
    if kind == "bool":
        if not isinstance(value, bool):
            raise StrategyParameterError(name, f"must be true or false, not {value!r}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise StrategyParameterError(name, f"must be an integer, not {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal | np.integer | np.floating):
            raise StrategyParameterError(name, f"must be a number, not {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise StrategyParameterError(name, "must be a finite number")
        return number
    if kind == "str":
        if not isinstance(value, str):
            raise StrategyParameterError(name, f"must be a string, not {value!r}")
        return value
    raise TypeError(f"parameter {name}: unsupported type {kind} (use int, float, bool or str)")


def _check_range(f: dataclasses.Field[Any], value: Any) -> None:
    meta = f.metadata
    minimum, maximum, choices = meta.get("minimum"), meta.get("maximum"), meta.get("choices")
    if choices and value not in choices:
        raise StrategyParameterError(f.name, f"must be one of {', '.join(choices)}, not {value!r}")
    if minimum is not None:
        if meta.get("exclusive_minimum") and not value > minimum:
            raise StrategyParameterError(f.name, f"must be greater than {minimum}")
        if not meta.get("exclusive_minimum") and value < minimum:
            raise StrategyParameterError(f.name, f"must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise StrategyParameterError(f.name, f"must be at most {maximum}")
