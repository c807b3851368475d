"""Settings shared by every environment; each value comes from the environment.

`.env.example` documents every variable. `local`, `test` and `prod` override only
what differs.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from apps.core.embedded import paths as embedded_paths
from apps.core.error_tracking import error_tracking_init

from .env import (
    celery_redis_url,
    celery_result_url,
    database_from_url,
    database_pool_options,
    env_bool,
    env_fernet_keys,
    env_fraction,
    env_int,
    env_list,
    env_str,
    env_url,
    redis_url_for_db,
)

BASE_DIR = Path(__file__).resolve().parents[2]

SECRET_KEY = env_str("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

DJANGO_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
]
THIRD_PARTY_APPS = [
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "auditlog",
]
LOCAL_APPS = [
    "apps.core",
    "apps.accounts",
    "apps.audit",
    "apps.exchanges",
    "apps.market",
    "apps.portfolio",
    "apps.orders",
    "apps.risk",
    "apps.strategies",
    "apps.backtesting",
    "apps.bots",
    "apps.help",
    "apps.operations",
    "apps.home",
]
INSTALLED_APPS = DJANGO_APPS + THIRD_PARTY_APPS + LOCAL_APPS

MIDDLEWARE = [
    "apps.core.middleware.RequestIdMiddleware",
    "apps.core.middleware.MetricsMiddleware",
    "apps.core.middleware.ApiErrorBodyMiddleware",
    "apps.core.request_limits.RequestLimitsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.security_headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.rls.RowSecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.accounts.middleware.UserTimezoneMiddleware",
    "apps.accounts.middleware.StaffTwoFactorMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
    "apps.core.middleware.ApplicationErrorMiddleware",
]

# Request bodies larger than this are refused with 413, JSON bodies nested deeper than
# REQUEST_JSON_MAX_DEPTH with 400 (apps/core/request_limits.py); Django's own form limit agrees.
REQUEST_BODY_MAX_BYTES = env_int("REQUEST_BODY_MAX_BYTES", 1_048_576, minimum=1024)
REQUEST_JSON_MAX_DEPTH = env_int("REQUEST_JSON_MAX_DEPTH", 32, minimum=2)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_BODY_MAX_BYTES
# While PostgreSQL or Redis is down, requests answer 503 with Retry-After: this many seconds.
OUTAGE_RETRY_AFTER_SECONDS = env_int("OUTAGE_RETRY_AFTER_SECONDS", 5, minimum=1)

ROOT_URLCONF = "trading_platform.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "trading_platform.asgi.application"

TEMPLATES: Any = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.navigation",
                "apps.core.context_processors.degraded",
                "apps.portfolio.mode.trading_mode",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    }
]

# Database: DATABASE_URL, or the embedded PostgreSQL over its unix socket as one of the
# platform's roles (apps/core/db_roles.py): DATABASE_ROLE=owner (migrations, commands,
# the test session), app (web and worker) or system (processes acting for all users).
DATABASE_ROLE = env_str("DATABASE_ROLE", "") or "owner"
if DATABASE_ROLE not in embedded_paths.ROLE_NAMES:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"DATABASE_ROLE must be owner, app or system, got {DATABASE_ROLE!r}.")
DATABASE_URL = env_url("DATABASE_URL", {"postgres", "postgresql", "pgsql"}) or embedded_paths.embedded_database_url(DATABASE_ROLE)
DATABASES: Any = {"default": database_from_url(DATABASE_URL)}
if env_str("DATABASE_NAME", ""):
    DATABASES["default"]["NAME"] = env_str("DATABASE_NAME")
# The ASGI server runs each request's sync code on a fresh thread, so a thread's persistent
# connection is never reused: every request would open a new PostgreSQL connection. The
# web process (Procfile) turns on a psycopg pool instead, DATABASE_POOL_SIZE connections per
# process. Celery's prefork workers keep persistent connections (it closes pools per task).
DATABASE_POOL = env_bool("DATABASE_POOL", False)
if DATABASE_POOL:
    DATABASES["default"] |= database_pool_options(env_int("DATABASE_POOL_SIZE", 16, minimum=1))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: REDIS_URL, or the embedded Redis over its unix socket. Each use gets its own
# logical database; REDIS_DB_OFFSET moves all of them (the test settings use it).
REDIS_URL = env_url("REDIS_URL", {"redis", "rediss", "unix"}) or embedded_paths.embedded_redis_url()
REDIS_DB_OFFSET = env_int("REDIS_DB_OFFSET", 0, minimum=0)
REDIS_CACHE_URL = redis_url_for_db(REDIS_URL, REDIS_DB_OFFSET + 0)
REDIS_CHANNELS_URL = redis_url_for_db(REDIS_URL, REDIS_DB_OFFSET + 1)

CACHES: Any = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_CACHE_URL,
        "KEY_PREFIX": "tp",
    }
}
CHANNEL_LAYERS: Any = {
    "default": {
        # Redis pub/sub: a group message crosses Redis once per web process, which then hands
        # it to each local socket; the list-based layer pays one Redis delivery per socket.
        # Pushes are fire-and-forget, which is what pub/sub gives.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [{"address": REDIS_CHANNELS_URL}]},
    }
}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["apps.accounts.backends.EmailBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home:dashboard"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Sign-in security: throttling, client address, two-factor, tokens ------------------
# Failed sign-ins are counted per (email, client address) and per client address; at its
# limit a counter waits LOGIN_LOCKOUT_SECONDS, doubling with each further failure up to
# LOGIN_LOCKOUT_MAX_SECONDS. Failures are forgotten LOGIN_FAILURE_WINDOW_SECONDS after the last.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ADDRESS_FAILURE_LIMIT = env_int("LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 60, minimum=1)
LOGIN_LOCKOUT_MAX_SECONDS = env_int("LOGIN_LOCKOUT_MAX_SECONDS", 900, minimum=1)
# How many reverse proxies stand in front of the web server; X-Forwarded-For is read only
# when this is above 0, and then the entry the outermost proxy wrote is the client.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# Staff without two-factor authentication are sent to set it up before anything else.
REQUIRE_STAFF_2FA = env_bool("REQUIRE_STAFF_2FA", False)
# How long a two-factor code entered in a session covers sensitive changes.
TWO_FACTOR_STEP_UP_SECONDS = env_int("TWO_FACTOR_STEP_UP_SECONDS", 300, minimum=1)
# JWT access tokens live at most 15 minutes; refresh tokens rotate on every use.
JWT_ACCESS_MAX_MINUTES = 15
# --- end of sign-in security -----------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every start when it is missing
STORAGES: Any = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "trading@localhost")

# REST API
REST_FRAMEWORK: Any = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiKeyAuthentication",
        "apps.accounts.authentication.EpochJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "apps.accounts.permissions.ApiKeyScopePermission"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.api.schema.PlatformAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "apps.core.api.throttling.AnonRateThrottle",
        "apps.core.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "1200/min"),
        "auth": env_str("API_THROTTLE_AUTH", "20/min"),
    },
    "EXCEPTION_HANDLER": "apps.core.api.exceptions.api_exception_handler",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "rest_framework.renderers.BrowsableAPIRenderer"],
    "COERCE_DECIMAL_TO_STRING": True,
}
SIMPLE_JWT: Any = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=min(env_int("JWT_ACCESS_MINUTES", 15, minimum=1), JWT_ACCESS_MAX_MINUTES)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7, minimum=1)),
    "USER_ID_FIELD": "id",
    "UPDATE_LAST_LOGIN": True,
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
}
SPECTACULAR_SETTINGS: Any = {
    "TITLE": "Trading Platform API",
    "DESCRIPTION": "Multi-exchange trading, bots, backtests. Authenticate with a JWT (Bearer) or `Authorization: Api-Key <key>`; a key works only for the operations its scopes (read, trade, bots) allow.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The API is JSON: the schema documents only JSON request bodies (DRF still parses forms for the browsable API).
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
}

# Celery
CELERY_BROKER_URL = celery_redis_url(REDIS_URL, REDIS_DB_OFFSET + 2)
CELERY_RESULT_BACKEND = celery_result_url(REDIS_URL, REDIS_DB_OFFSET + 3)
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_RESULT_EXPIRES = 3600
CELERY_TIMEZONE = "UTC"
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES_NAMES = ["default", "market", "bots", "backtests", "alerts"]
# Routes match task names (each app names its tasks "<app>.<action>").
CELERY_TASK_ROUTES: Any = {
    "market.*": {"queue": "market"},
    "exchanges.*": {"queue": "market"},
    "bots.*": {"queue": "bots"},
    "backtesting.*": {"queue": "backtests"},
    "alerts.*": {"queue": "alerts"},
}
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 360, minimum=1)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Observability
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "text"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, got {LOG_FORMAT!r}.")
LOGGING: Any = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "apps.core.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

AUDITLOG_INCLUDE_ALL_MODELS = False
# Domain audit events: months older than this are dropped whole by the partition task (7 years).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 7 * 365 + 2, minimum=1)

# Exchange credentials at rest: Fernet keys, newest first (see apps/exchanges/crypto.py).
FIELD_ENCRYPTION_KEYS: list[str] = env_fernet_keys("FIELD_ENCRYPTION_KEYS")

# Backups (`manage.py backup`, `manage.py restore FILE`): where they go, how many the schedule
# keeps, and how often it takes one (0: no scheduled backups).
BACKUP_DIR = Path(env_str("BACKUP_DIR", "") or BASE_DIR / ".local" / "backups")
BACKUP_KEEP = env_int("BACKUP_KEEP", 7, minimum=1)
BACKUP_EVERY_HOURS = env_int("BACKUP_EVERY_HOURS", 24, minimum=0)

# Market data
CANDLE_RETENTION_DAYS: dict[str, int | None] = {"1m": 30, "5m": 90, "15m": 180, "1h": None, "4h": None, "1d": None}
for _item in env_list("CANDLE_RETENTION_DAYS", []):
    _timeframe, _, _days = _item.partition("=")
    if _timeframe not in CANDLE_RETENTION_DAYS or not (_days.isdigit() or _days == "forever"):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"CANDLE_RETENTION_DAYS: {_item!r} is not TIMEFRAME=DAYS or TIMEFRAME=forever (timeframes 1m, 5m, 15m, 1h, 4h, 1d).")
    CANDLE_RETENTION_DAYS[_timeframe] = None if _days == "forever" else int(_days)
ORDER_BOOK_SNAPSHOT_RETENTION_DAYS = env_int("ORDER_BOOK_SNAPSHOT_RETENTION_DAYS", 7, minimum=1)
ORDER_BOOK_SNAPSHOT_SECONDS = env_int("ORDER_BOOK_SNAPSHOT_SECONDS", 60, minimum=1)
SIM_HISTORY_DAYS = env_int("SIM_HISTORY_DAYS", 30, minimum=1)
# Live pushes per symbol and widget per second (ticker, order book, candle).
MARKET_PUSH_HZ = env_int("MARKET_PUSH_HZ", 4, minimum=1)
# Liquidations (apps/orders/domain/liquidation_settings.py): the margin ratio in % that sends a
# margin call, and per venue the fee it keeps on a liquidation, as a fraction of the notional.
try:
    from apps.orders.domain.liquidation_settings import checked_margin_call_percent, liquidation_fee_rates_from_items

    MARGIN_CALL_PERCENT = checked_margin_call_percent(env_str("MARGIN_CALL_PERCENT", "80"))
    LIQUIDATION_FEE_RATES = liquidation_fee_rates_from_items(env_list("LIQUIDATION_FEE_RATES", []))
except ValueError as _error:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(str(_error)) from None
# Test-only: point the ccxt gateway at a local server speaking the venue's protocol.
EXCHANGE_REST_BASE_URL = env_str("EXCHANGE_REST_BASE_URL", "")
EXCHANGE_WS_BASE_URL = env_str("EXCHANGE_WS_BASE_URL", "")

# Error tracking (optional): Sentry when SENTRY_DSN is set; scrubbed (apps/core/error_tracking.py).
SENTRY_DSN = env_str("SENTRY_DSN", "")
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "production")
SENTRY_RELEASE = env_str("SENTRY_RELEASE", "")
SENTRY_TRACES_SAMPLE_RATE = env_fraction("SENTRY_TRACES_SAMPLE_RATE", 0.0)
SENTRY_INCLUDE_LOCALS = env_bool("SENTRY_INCLUDE_LOCALS", False)
error_tracking_init(
    dsn=SENTRY_DSN,
    environment=SENTRY_ENVIRONMENT,
    release=SENTRY_RELEASE,
    traces_sample_rate=SENTRY_TRACES_SAMPLE_RATE,
    include_locals=SENTRY_INCLUDE_LOCALS,
)
