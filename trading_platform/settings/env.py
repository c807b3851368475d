"""Reading settings from the environment with errors that name the variable."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Set the {name} environment variable.")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}.")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_fraction(name: str, default: float) -> float:
    """A number from 0 to 1 (a sampling rate)."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number from 0 to 1, got {raw!r}.") from None
    if not 0.0 <= value <= 1.0:
        raise ImproperlyConfigured(f"{name} must be a number from 0 to 1, got {raw!r}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, schemes: set[str]) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        allowed = ", ".join(sorted(schemes))
        raise ImproperlyConfigured(f"{name} must be a URL starting with one of {allowed}; got scheme {parts.scheme!r}.")
    return raw


def database_from_url(url: str) -> dict[str, object]:
    """A Django DATABASES entry from postgres://user:pass@host:port/name (host may be a %2F-encoded socket dir)."""
    from urllib.parse import unquote

    parts = urlsplit(url)
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL must name a database, e.g. postgres://user:pass@host:5432/trading.")
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has an invalid port.") from None
    host = unquote(parts.netloc.rsplit("@", 1)[-1].rsplit(":", 1)[0]) if parts.netloc else ""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def database_pool_options(max_size: int) -> dict[str, object]:
    """Django's psycopg pool (replaces persistent connections, which a pool forbids).

    Each connection is checked as it leaves the pool (one round trip on a socket that is
    already open): after a PostgreSQL restart the pool holds connections the server closed,
    and without the check each would fail one request before the pool dropped it. Django
    hands the pool `ConnectionPool.check_connection` when CONN_HEALTH_CHECKS is on (and
    refuses a `check` of our own beside it)."""
    pool = {"min_size": min(2, max_size), "max_size": max_size, "timeout": 10}
    return {"CONN_MAX_AGE": 0, "CONN_HEALTH_CHECKS": True, "OPTIONS": {"pool": pool}}


def redis_url_for_db(url: str, db: int) -> str:
    """The same Redis server with another logical database number."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}?db={db}"
    base = url.split("?", 1)[0]
    scheme_and_host = base.rsplit("/", 1)[0] if parts.path not in ("", "/") else base.rstrip("/")
    return f"{scheme_and_host}/{db}"


def celery_redis_url(url: str, db: int) -> str:
    """Kombu and Celery spell unix sockets differently from redis-py."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={db}"
    return redis_url_for_db(url, db)


def celery_result_url(url: str, db: int) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}?virtual_host={db}"
    return redis_url_for_db(url, db)


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys (newest first); each must be 32 url-safe base64-encoded bytes."""
    import base64
    import binascii

    keys = env_list(name, [])
    for position, key in enumerate(keys, start=1):
        try:
            valid = len(base64.urlsafe_b64decode(key.encode())) == 32
        except (binascii.Error, ValueError):
            valid = False
        if not valid:
            raise ImproperlyConfigured(
                f"{name}: key #{position} is not a Fernet key (generate one with "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
            )
    return keys


def local_fernet_key(path: Path) -> str:
    """A development encryption key kept beside the embedded data, created on first use."""
    from cryptography.fernet import Fernet

    return _local_secret(path, lambda: Fernet.generate_key().decode())


def local_secret_key(path: Path) -> str:
    """A development SECRET_KEY kept beside the embedded data, created on first use: none is written in the source."""
    import secrets

    return _local_secret(path, lambda: secrets.token_urlsafe(64))


def _local_secret(path: Path, generate: Callable[[], str]) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    # Created private, then renamed into place, so two processes starting together agree on one value.
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()
