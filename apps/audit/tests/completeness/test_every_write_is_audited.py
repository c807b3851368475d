"""Completeness: every service function in apps/*/services* that writes a model records an audit event.

The walk reads each services module's source: a function writes when it (or a helper it calls,
in its module or another services module) saves, creates, updates or deletes rows; it records
when it (or such a helper) calls `audit_record`. A public service that writes must record.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

APPS = Path(__file__).resolve().parents[3]
WRITE_METHODS = {
    "save",
    "create",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
    "update",
    "delete",
    "rows_insert",
    "row_update",
    "row_save",
    "rows_add",
    "set_password",
}
RECORD = "audit_record"
# Writes that are not a change anyone made to a user's or the platform's state: not counted.
BOOKKEEPING = {
    "apps.audit.services.audit_record": "writes the trail itself",
    "apps.accounts.services.api_keys.api_key_authenticate": "notes the key's last use (every API call would be an event)",
    "apps.accounts.services.sign_in.login_failures_clear": "clears Redis counters, no model",
    "apps.risk.services.risk_limits_get": "creates the empty default limits row on first read",
    "apps.portfolio.services.balance_select_for_update": "creates the zero balance row it locks",
    "apps.orders.services.ledger.position_select_for_update": "creates the flat position row it locks",
    "apps.backtesting.optimisation.services.run_candidates": "stores computed candidate metrics; the run's creation, start and end are events",
}
# Steps of services that record the event themselves: every caller among the services must record.
STEPS = {
    "apps.orders.services.ledger.ledger_apply_fill",
    "apps.orders.services.ledger.ledger_finish_order",
    "apps.orders.services.placement.apply_engine_events",
    "apps.accounts.services.sessions.user_auth_epoch_raise",
}


@dataclass
class Function:
    qualname: str
    writes: bool = False
    records: bool = False
    calls: set[str] = field(default_factory=set)


def _service_modules() -> list[Path]:
    found = []
    for app in sorted(APPS.iterdir()):
        if not app.is_dir():
            continue
        found.extend(sorted(app.glob("services.py")))
        found.extend(sorted(path for path in app.glob("services/*.py") if path.name != "__init__.py"))
        found.extend(sorted(path for path in app.glob("*/services.py")))
    return found


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(APPS.parent).with_suffix("").parts)


def _called_name(node: ast.Call) -> str:
    target = node.func
    if isinstance(target, ast.Attribute):
        return target.attr
    if isinstance(target, ast.Name):
        return target.id
    return ""


def _imported_names(tree: ast.Module) -> dict[str, str]:
    """Local name -> 'module.function' for names imported from other services modules."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and "services" in node.module:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _functions() -> dict[str, Function]:
    functions: dict[str, Function] = {}
    for path in _service_modules():
        module = _module_name(path)
        tree = ast.parse(path.read_text())
        imported = _imported_names(tree)
        local = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            function = Function(f"{module}.{node.name}")
            for call in (child for child in ast.walk(node) if isinstance(child, ast.Call)):
                name = _called_name(call)
                if name == RECORD:
                    function.records = True
                elif name in WRITE_METHODS:
                    function.writes = True
                if name in local:
                    function.calls.add(f"{module}.{name}")
                elif isinstance(call.func, ast.Name) and name in imported:
                    function.calls.add(imported[name])
            functions[function.qualname] = function
    return functions


def _closure(functions: dict[str, Function], attribute: str) -> set[str]:
    """Functions for which `attribute` holds, themselves or through any function they call
    (bookkeeping writes are not counted)."""
    holding = {name for name, function in functions.items() if getattr(function, attribute) and not (attribute == "writes" and name in BOOKKEEPING)}
    changed = True
    while changed:
        changed = False
        for name, function in functions.items():
            if name not in holding and function.calls & holding and not (attribute == "writes" and name in BOOKKEEPING):
                holding.add(name)
                changed = True
    return holding


def unaudited_writers() -> list[str]:
    functions = _functions()
    writers, recorders = _closure(functions, "writes"), _closure(functions, "records")
    public = {name for name in functions if not name.rsplit(".", 1)[1].startswith("_")}
    return sorted(name for name in (public & writers) - recorders - STEPS)


def _covered(name: str, functions: dict[str, Function], recorders: set[str], seen: frozenset[str] = frozenset()) -> bool:
    """The function records, or is private and every service calling it is covered."""
    if name in recorders:
        return True
    callers = [caller for caller, function in functions.items() if name in function.calls and caller not in seen]
    private = name.rsplit(".", 1)[1].startswith("_")
    return private and bool(callers) and all(_covered(caller, functions, recorders, seen | {name}) for caller in callers)


def steps_called_without_an_event() -> list[str]:
    """(caller -> step) pairs where a service calls a writing step but no event is recorded."""
    functions = _functions()
    recorders = _closure(functions, "records")
    return sorted(
        f"{name} -> {step}"
        for name, function in functions.items()
        for step in function.calls & STEPS
        if name not in STEPS and not _covered(name, functions, recorders)
    )


def test_the_walk_finds_the_services_of_every_app() -> None:
    modules = {_module_name(path) for path in _service_modules()}

    assert {"apps.orders.services.placement", "apps.bots.services", "apps.accounts.services.api_keys", "apps.risk.services"} <= modules


def test_every_service_that_writes_a_model_records_an_audit_event() -> None:
    assert unaudited_writers() == []


def test_every_service_calling_a_ledger_or_session_step_records_the_event() -> None:
    assert steps_called_without_an_event() == []


def test_the_exemptions_name_functions_that_still_exist() -> None:
    assert set(BOOKKEEPING) | STEPS <= set(_functions())
