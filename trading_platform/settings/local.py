"""Development on a laptop: `make run`."""

from .base import *
from .env import env_bool, env_str, local_fernet_key

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env_str("SECRET_KEY", "local-development-only-secret-key-change-me-in-production")
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT

if not FIELD_ENCRYPTION_KEYS:  # type: ignore[used-before-def]
    FIELD_ENCRYPTION_KEYS = [local_fernet_key(BASE_DIR / ".local" / "field-encryption.key")]
