"""The test suite: the same real services, separate databases."""

from .base import *
from .env import celery_redis_url, celery_result_url, env_int, env_str, local_fernet_key, local_secret_key, redis_url_for_db

SECRET_KEY = env_str("SECRET_KEY", "") or local_secret_key(BASE_DIR / ".local" / "secret-key")
DEBUG = False
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
ROOT_URLCONF = "tests.testapp.urls"  # the platform's URLs and a few test-only views

# Keep the test session's Redis keys, queues and groups apart from a running `make run`.
REDIS_DB_OFFSET = env_int("REDIS_DB_OFFSET", 8, minimum=0)
REDIS_CACHE_URL = redis_url_for_db(REDIS_URL, REDIS_DB_OFFSET + 0)
REDIS_CHANNELS_URL = redis_url_for_db(REDIS_URL, REDIS_DB_OFFSET + 1)
CACHES["default"]["LOCATION"] = REDIS_CACHE_URL
CACHES["default"]["KEY_PREFIX"] = "tp-test"
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [{"address": REDIS_CHANNELS_URL}]
CELERY_BROKER_URL = celery_redis_url(REDIS_URL, REDIS_DB_OFFSET + 2)
CELERY_RESULT_BACKEND = celery_result_url(REDIS_URL, REDIS_DB_OFFSET + 3)

REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {"anon": "1000/min", "user": "10000/min", "auth": "1000/min"}
LOG_FORMAT = "text"
LOGGING["handlers"]["console"]["formatter"] = "text"
LOGGING["root"]["level"] = "WARNING"

FIELD_ENCRYPTION_KEYS = FIELD_ENCRYPTION_KEYS or [local_fernet_key(BASE_DIR / ".local" / "field-encryption.key")]
