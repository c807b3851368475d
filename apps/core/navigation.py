"""The sections in the main navigation, and the ones whose pages are still to come."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    url_name: str
    summary: str = ""


MAIN_SECTIONS: list[Section] = [
    Section("dashboard", "Dashboard", "home:dashboard"),
    Section("market", "Market", "market:index"),
    Section("orders", "Orders", "orders:list"),
    Section("positions", "Positions", "positions:list"),
    Section("bots", "Bots", "bots:list"),
    Section("strategies", "Strategies", "strategies:list"),
    Section("backtests", "Backtests", "backtesting:list"),
    Section("alerts", "Alerts", "core:planned", "Price and indicator alerts with notifications."),
    Section("risk", "Risk", "risk:limits"),
    Section("audit", "Audit", "audit:list"),
    Section("settings", "Settings", "accounts:settings"),
    Section("help", "Help", "help:index"),
]

PLANNED_SECTIONS: dict[str, Section] = {s.key: s for s in MAIN_SECTIONS if s.url_name == "core:planned"}
