"""The Audit page's and the API's filter: parsed once from query parameters, errors naming the parameter."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from apps.audit.models import ActorKind
from apps.core.api.params import datetime_param
from apps.core.errors import PermissionDeniedError, ValidationError

# Action groups a trader thinks in; an action belongs to every group one of whose prefixes it starts with.
ACTION_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "sign_in": ("Sign-in", ("auth.", "two_factor.", "user.registered", "user.registration_attempted", "user.password_", "user.signed_out_everywhere")),
    "keys": ("API keys", ("api_key.", "encryption.")),
    "connections": ("Exchange connections", ("api_connection.",)),
    "orders": ("Orders", ("order.", "position.", "reconciliation.", "account.")),
    "bots": ("Bots", ("bot.", "backtest.", "optimisation.")),
    "risk": ("Risk", ("risk", "order.rejected_by_risk", "account.trading_state_changed", "bot.paused_by_risk")),
    "alerts": ("Alerts", ("alert.", "notification")),
    "settings": ("Settings", ("settings.", "user.preferences_changed", "user.staff_granted", "symbol.watched_changed")),
    "system": ("Platform", ("audit.", "candles.", "symbols.", "exchange.")),
}
TEXT_LIMIT = 100


@dataclass(frozen=True)
class AuditFilter:
    group: str = ""
    action: str = ""
    target_type: str = ""
    target_id: str = ""
    actor: str = ""
    actor_kind: str = ""
    since: datetime | None = None
    until: datetime | None = None
    q: str = ""
    correlation: str = ""
    owner: str = ""
    everyone: bool = False

    def as_params(self) -> dict[str, str]:
        """The filter as query parameters (for links, the export and the manifest)."""
        params: dict[str, str] = {}
        for name, value in asdict(self).items():
            if name == "everyone":
                if value:
                    params["scope"] = "all"
            elif isinstance(value, datetime):
                params[name] = value.isoformat()
            elif value:
                params[name] = str(value)
        return params

    @property
    def group_prefixes(self) -> tuple[str, ...]:
        return ACTION_GROUPS[self.group][1] if self.group else ()


def _text(params: Mapping[str, Any], name: str, limit: int = 64) -> str:
    value = str(params.get(name, "") or "").strip()
    if len(value) > limit:
        raise ValidationError.for_field(name, f"{name} is at most {limit} characters.")
    return value


def audit_filter_from_params(params: Mapping[str, Any], *, actor: Any, strict_scope: bool) -> AuditFilter:
    """Parse the filter. `strict_scope` (API, export): asking for everyone's events without being
    staff is a 403 naming `scope`; the page instead just shows the user's own."""
    group = _text(params, "group")
    if group and group not in ACTION_GROUPS:
        raise ValidationError.for_field("group", f"Unknown group {group!r}; use one of {', '.join(ACTION_GROUPS)}.")
    actor_kind = _text(params, "actor_kind")
    if actor_kind and actor_kind not in ActorKind.values:
        raise ValidationError.for_field("actor_kind", f"Unknown actor_kind {actor_kind!r}; use one of {', '.join(ActorKind.values)}.")
    since, until = datetime_param(params, "since"), datetime_param(params, "until")
    if since is not None and until is not None and until < since:
        raise ValidationError.for_field("until", "until is before since: the date range is inverted.")
    target_id = _text(params, "target_id")
    scope = _text(params, "scope")
    if scope and scope not in {"all", "mine"}:
        raise ValidationError.for_field("scope", f"scope is all or mine, not {scope!r}.")
    everyone = scope == "all"
    if everyone and not actor.is_staff:
        if strict_scope:
            raise PermissionDeniedError("Only staff may see everyone's audit events.", extra={"fields": {"scope": ["staff only"]}})
        everyone = False
    owner = _text(params, "owner")
    if owner:
        _owner_allowed(owner, actor, strict_scope=strict_scope)
    return AuditFilter(
        group=group,
        action=_text(params, "action"),
        target_type=_text(params, "target_type"),
        target_id=target_id,
        actor=_text(params, "actor", 254),
        actor_kind=actor_kind,
        since=since,
        until=until,
        q=_text(params, "q", TEXT_LIMIT),
        correlation=_text(params, "correlation"),
        owner=owner,
        everyone=everyone or (bool(owner) and actor.is_staff),
    )


def _owner_allowed(owner: str, actor: Any, *, strict_scope: bool) -> None:
    try:
        owner_id = uuid.UUID(owner)
    except ValueError:
        raise ValidationError.for_field("owner", f"owner must be a user id, got {owner!r}.") from None
    if owner_id != actor.pk and not actor.is_staff and strict_scope:
        raise PermissionDeniedError("You may only see and export your own audit events.", extra={"fields": {"owner": ["not yours"]}})
