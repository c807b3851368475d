"""Optional error tracking with Sentry: on only when `SENTRY_DSN` is set.

Secrets and personal data never leave the platform: no request bodies, cookies, user
addresses or e-mails are sent, the headers and extra data that can carry a credential
are masked by name, and frame local variables (where a decrypted exchange secret can sit
under any name) are left out unless `SENTRY_INCLUDE_LOCALS=true`, and scrubbed by name then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentry_sdk._types import Event

MASK = "[Filtered]"

# Names whose values are credentials here, beside Sentry's own list (password, secret, token, ...).
PLATFORM_DENYLIST = [
    "api_secret",
    "secret_key",
    "passphrase",
    "otp",
    "otp_code",
    "recovery_code",
    "totp_secret",
    "refresh",
    "access",
    "key",
    "raw_key",
    "x_api_key",
    "field_encryption_keys",
    "fernet_keys",
    "database_url",
    "redis_url",
    "dsn",
]
HEADERS_TO_MASK = {"authorization", "cookie", "x-api-key", "proxy-authorization", "x-csrftoken", "x-forwarded-for", "x-real-ip"}


def error_tracking_init(*, dsn: str, environment: str, release: str, traces_sample_rate: float = 0.0, include_locals: bool = False) -> bool:
    """Start Sentry for this process (web, worker, beat, stream alike); False when no DSN is set."""
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        include_local_variables=include_locals,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *PLATFORM_DENYLIST], recursive=True),
        before_send=scrub_event,
        traces_sample_rate=traces_sample_rate,
    )
    return True


def scrub_event(event: Event, hint: dict[str, Any] | None = None) -> Event:
    """The last pass before an event leaves: the request keeps its method, URL and safe headers only."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("data", None)
        request.pop("cookies", None)
        request.pop("env", None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: (MASK if name.lower() in HEADERS_TO_MASK else value) for name, value in headers.items()}
        query = request.get("query_string")
        if isinstance(query, str) and query:
            request["query_string"] = _masked_query(query)
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    return event


def _masked_query(query: str) -> str:
    from urllib.parse import parse_qsl, urlencode

    denied = {name.lower() for name in PLATFORM_DENYLIST} | {"token", "password", "secret", "api_key"}
    pairs = [(name, MASK if name.lower() in denied else value) for name, value in parse_qsl(query, keep_blank_values=True)]
    return urlencode(pairs)
