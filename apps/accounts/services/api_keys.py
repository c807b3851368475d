"""API keys for bots and scripts: scoped, optionally expiring, optionally tied to client addresses."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone

from apps.accounts.enums import AccountsErrorCode, ApiKeyScope
from apps.accounts.models import ApiKey, User
from apps.audit.services import audit_record
from apps.core import rls
from apps.core.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from apps.core.rows import rows_select

API_KEY_SCHEME = "tpk"
MAX_ACTIVE_API_KEYS = 20
MAX_ALLOWED_NETWORKS = 20
LAST_USED_WRITE_INTERVAL = timedelta(minutes=1)


class ApiKeyRefusedError(PermissionDeniedError):
    """A real key used where or when it may not be (expired, from another address)."""


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    plaintext: str


def _hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_scopes_clean(scopes: Iterable[str]) -> list[str]:
    """The scopes in canonical order; unknown or no scopes are a field error."""
    chosen = set(scopes)
    unknown = sorted(chosen - set(ApiKeyScope.values))
    if unknown:
        raise ValidationError.for_field("scopes", f"Unknown scope {unknown[0]!r}; choose from {', '.join(ApiKeyScope.values)}.")
    if not chosen:
        raise ValidationError.for_field("scopes", "Choose at least one scope (read, trade, bots).")
    return [scope for scope in ApiKeyScope.values if scope in chosen]


def api_key_networks_clean(networks: Iterable[str]) -> list[str]:
    """Addresses and CIDR networks in their canonical spelling; anything else is a field error."""
    cleaned: list[str] = []
    for raw in networks:
        text = raw.strip()
        if not text:
            continue
        try:
            cleaned.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise ValidationError.for_field("allowed_networks", f"{text!r} is not an IP address or network such as 203.0.113.7 or 10.0.0.0/8.") from None
    if len(cleaned) > MAX_ALLOWED_NETWORKS:
        raise ValidationError.for_field("allowed_networks", f"At most {MAX_ALLOWED_NETWORKS} addresses or networks.")
    return list(dict.fromkeys(cleaned))


@transaction.atomic
def api_key_create(
    *,
    actor: User,
    name: str,
    scopes: Sequence[str] = (ApiKeyScope.READ,),
    expires_at: datetime | None = None,
    allowed_networks: Sequence[str] = (),
) -> CreatedApiKey:
    """A new key; its plaintext is returned this once. A key with `trade` needs a step-up check by the caller."""
    name = name.strip()
    if not name:
        raise ValidationError.for_field("name", "Give the key a name, e.g. the bot that will use it.")
    if len(name) > 80:
        raise ValidationError.for_field("name", "Keep the name under 80 characters.")
    clean_scopes = api_key_scopes_clean(scopes)
    networks = api_key_networks_clean(allowed_networks)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError.for_field("expires_at", "The expiry must be in the future.")
    if ApiKey.objects.filter(user=actor, revoked_at__isnull=True).count() >= MAX_ACTIVE_API_KEYS:
        raise ConflictError(f"At most {MAX_ACTIVE_API_KEYS} active API keys; revoke one first.", code=AccountsErrorCode.API_KEY_LIMIT)
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_SCHEME}_{prefix}.{secrets.token_urlsafe(32)}"
    api_key = ApiKey.objects.create(
        user=actor,
        name=name,
        prefix=prefix,
        key_hash=_hash_key(plaintext),
        scopes=clean_scopes,
        expires_at=expires_at,
        allowed_networks=networks,
    )
    audit_record(
        actor=actor,
        action="api_key.created",
        summary=f"API key {name!r} created ({', '.join(clean_scopes)})",
        target=api_key,
        changes={
            "scopes": [None, clean_scopes],
            "expires_at": [None, expires_at.isoformat() if expires_at else None],
            "allowed_networks": [None, networks],
        },
    )
    return CreatedApiKey(api_key=api_key, plaintext=plaintext)


@transaction.atomic
def api_key_revoke(*, actor: User, api_key_id: uuid.UUID | str) -> ApiKey:
    try:
        api_key = ApiKey.objects.select_for_update().get(pk=api_key_id, user=actor)
    except (ApiKey.DoesNotExist, DjangoValidationError, ValueError):
        raise NotFoundError("No such API key.") from None
    if api_key.revoked_at is not None:
        raise ConflictError("This API key is already revoked.", code=AccountsErrorCode.API_KEY_REVOKED)
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at", "updated_at"])
    audit_record(actor=actor, action="api_key.revoked", summary=f"API key {api_key.name!r} revoked", target=api_key)
    return api_key


def _address_allowed(address: str, networks: Sequence[str]) -> bool:
    try:
        client = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(client in ipaddress.ip_network(network) for network in networks)


def api_key_authenticate(*, plaintext: str, address: str) -> ApiKey | None:
    """The key matching `plaintext`, or None when no active key matches.

    A real key that has expired, or is used from an address outside its allow-list, raises
    ApiKeyRefusedError saying so: its holder knows the key, so naming the reason reveals
    nothing. Records last use at most once a minute.
    """
    scheme, _, rest = plaintext.partition("_")
    prefix, _, secret = rest.partition(".")
    if scheme != API_KEY_SCHEME or not prefix or not secret:
        return None
    # Nobody is authenticated yet: row-level security lets this lookup see the one key it names
    # (one transaction, so the setting travels once for the reads and the write).
    with rls.api_key_lookup(prefix), transaction.atomic():
        return _api_key_check(prefix=prefix, plaintext=plaintext, address=address)


def _api_key_check(*, prefix: str, plaintext: str, address: str) -> ApiKey | None:
    # Every API call of a bot comes through here: rows are read by key without the ORM's compile step.
    keys = rows_select(ApiKey, where={"prefix": prefix})
    if not keys or not hmac.compare_digest(keys[0].key_hash, _hash_key(plaintext)):
        return None
    api_key = keys[0]
    users = rows_select(User, where={"id": api_key.user_id})
    if api_key.revoked_at is not None or not users or not users[0].is_active:
        return None
    now = timezone.now()
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise ApiKeyRefusedError(
            f"This API key expired at {api_key.expires_at:%Y-%m-%d %H:%M} UTC; create a new one.",
            code=AccountsErrorCode.API_KEY_EXPIRED,
        )
    if api_key.allowed_networks and not _address_allowed(address, api_key.allowed_networks):
        raise ApiKeyRefusedError(
            f"This API key may not be used from {address}; add the address to the key's allow-list or use another key.",
            code=AccountsErrorCode.API_KEY_ADDRESS_REFUSED,
            extra={"address": address},
        )
    api_key.user = users[0]
    if api_key.last_used_at is None or now - api_key.last_used_at >= LAST_USED_WRITE_INTERVAL:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key
