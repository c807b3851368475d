"""The parameter tables of the strategies guide, made from the registry's JSON schemas.

`docs/strategies.md` holds one table per built-in strategy; a test checks that each is exactly
what `parameter_table` makes of that strategy's schema, so the guide cannot drift from the code.
Print every table with `python -m apps.help.strategy_reference`.
"""

from __future__ import annotations

from typing import Any

from apps.strategies.domain.registry import list_strategies

TABLE_HEADER = "| Parameter | Type | Default | Allowed | What it does |\n|---|---|---|---|---|"


def allowed_values(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "one of " + ", ".join(f"`{choice}`" for choice in prop["enum"])
    if prop["type"] == "boolean":
        return "`true` or `false`"
    bounds = []
    if "minimum" in prop:
        bounds.append(f"≥ {_number(prop['minimum'])}")
    if "exclusiveMinimum" in prop:
        bounds.append(f"> {_number(prop['exclusiveMinimum'])}")
    if "maximum" in prop:
        bounds.append(f"≤ {_number(prop['maximum'])}")
    return ", ".join(bounds) or "any"


def _number(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default(value: Any) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    return f"`{value}`"


def parameter_table(schema: dict[str, Any]) -> str:
    rows = [
        f"| `{name}` | {prop['type']} | {_default(prop['default'])} | {allowed_values(prop)} | {prop['description'].replace('|', '/')} |"
        for name, prop in schema["properties"].items()
    ]
    return "\n".join([TABLE_HEADER, *rows])


def main() -> None:
    for strategy in list_strategies():
        print(f"## {strategy['name']}\n\n{parameter_table(strategy['schema'])}\n")


if __name__ == "__main__":
    main()
