"""The strategies guide documents every built-in strategy and every parameter exactly as the registry declares them."""

from __future__ import annotations

import re

from apps.help.guides import guide_path
from apps.help.strategy_reference import allowed_values, parameter_table
from apps.strategies.domain.registry import list_strategies


def _sections(text: str) -> dict[str, str]:
    parts = re.split(r"^## ", text, flags=re.M)
    return {part.split("\n", 1)[0].strip(): part for part in parts[1:]}


def test_every_built_in_strategy_has_a_section_with_its_exact_parameter_table() -> None:
    sections = _sections(guide_path("strategies").read_text(encoding="utf-8"))

    for strategy in list_strategies():
        name = strategy["name"]
        assert name in sections, f"docs/strategies.md has no '## {name}' section"
        assert parameter_table(strategy["schema"]) in sections[name], (
            f"the parameter table of {name} in docs/strategies.md differs from its schema; "
            "print the current tables with `python -m apps.help.strategy_reference`"
        )


def test_the_guide_documents_no_strategy_that_is_not_registered() -> None:
    sections = _sections(guide_path("strategies").read_text(encoding="utf-8"))
    tables = {title for title, body in sections.items() if "| Parameter |" in body}

    assert tables == {strategy["name"] for strategy in list_strategies()}


def test_ranges_are_written_the_way_the_schema_checks_them() -> None:
    assert allowed_values({"type": "integer", "minimum": 1, "maximum": 1000}) == "≥ 1, ≤ 1000"
    assert allowed_values({"type": "number", "exclusiveMinimum": 0}) == "> 0"
    assert allowed_values({"type": "number", "exclusiveMinimum": 0, "maximum": 0.5}) == "> 0, ≤ 0.5"
    assert allowed_values({"type": "string", "enum": ["mid", "rsi"]}) == "one of `mid`, `rsi`"
    assert allowed_values({"type": "boolean"}) == "`true` or `false`"
