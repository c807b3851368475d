"""Development on a laptop: `make run`."""

from .base import *
from .env import env_bool, env_str, local_fernet_key, local_secret_key

# Django's technical pages list every URL and setting: only when a developer sets DEBUG=true by hand.
# Static files are served by WhiteNoise either way.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "") or local_secret_key(BASE_DIR / ".local" / "secret-key")
LOG_FORMAT = env_str("LOG_FORMAT", "text")
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT

if not FIELD_ENCRYPTION_KEYS:  # type: ignore[used-before-def]
    FIELD_ENCRYPTION_KEYS = [local_fernet_key(BASE_DIR / ".local" / "field-encryption.key")]
