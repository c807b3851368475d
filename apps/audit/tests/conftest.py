"""Tests that run inside one transaction never commit it: their events are chained at the end of
each statement instead (the chain trigger made IMMEDIATE), as a commit would chain them."""

from __future__ import annotations

import pytest

from apps.audit.tests.chaining import chain_now


@pytest.fixture(autouse=True)
def _chain_without_committing(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    if marker is None or marker.kwargs.get("transaction") or (marker.args and marker.args[0]):
        return
    request.getfixturevalue("db")
    chain_now()
