"""Payerbridge settings: one file, every value from the environment.

Development defaults exist only when DEBUG is on; production refuses to boot
without its secrets (see `config.env.require`).
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

from config.env import env, get_bool, get_choice, get_int, get_url, require, require_dev_services

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = get_bool("DEBUG", default=False)

_missing: list[str] = []


def _required(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return dev_default
    _missing.append(name)
    return ""


def _dev_fernet_key(label: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(label.encode()).digest()).decode()


SECRET_KEY = _required("SECRET_KEY", "dev-insecure-" + "payerbridge-secret-key-for-debug-only")
ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS", "*").split(",") if h.strip()]
PUBLIC_BASE_URL = (
    get_url(
        "PUBLIC_BASE_URL",
        _required("PUBLIC_BASE_URL", "http://127.0.0.1:8000"),
        schemes=("http", "https"),
    )
    or ""
).rstrip("/")
# The beat task probes real payers' SMART discovery; off by default in development.
DISCOVER_REAL_PAYERS = get_bool("DISCOVER_REAL_PAYERS", default=not DEBUG)
SANDBOX_BASE_URL = (
    get_url("SANDBOX_BASE_URL", "http://localhost:8001", schemes=("http", "https")) or ""
).rstrip("/")
# Comma-separated Fernet keys, newest first; `manage.py rotate_keys` re-encrypts
# everything under the first one.
ENCRYPTION_KEYS = [
    k.strip()
    for k in _required("ENCRYPTION_KEYS", _dev_fernet_key("payerbridge-dev")).split(",")
    if k.strip()
]

DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = get_url("REDIS_URL", None, schemes=("redis", "rediss", "unix")) or ""
if DEBUG and not (DATABASE_URL and REDIS_URL):
    # Development: reach the embedded services `make run` started (config.devservices),
    # so `python manage.py ...` works in a second shell with nothing exported.
    DATABASE_URL, REDIS_URL = require_dev_services(DATABASE_URL, REDIS_URL)
if not DATABASE_URL:
    _missing.append("DATABASE_URL")
if not REDIS_URL:
    _missing.append("REDIS_URL")
require(_missing)

if urlsplit(DATABASE_URL).scheme not in ("postgres", "postgresql", "pgsql"):
    # SQLite and friends are not supported anywhere.
    require(["DATABASE_URL (a postgres:// URL)"])
_db = env.db_url_config(DATABASE_URL)
_db["HOST"] = unquote(str(_db.get("HOST", "")))  # unix socket directories are %2F-encoded
_db["CONN_MAX_AGE"] = get_int("DB_CONN_MAX_AGE", 60)
_db["CONN_HEALTH_CHECKS"] = True
_db.setdefault("OPTIONS", {})["connect_timeout"] = 5
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "payers",
    "payers.sandbox",  # the sandbox payers' tables (gateway seeds them; sandbox serves them)
    "consent",
    "etl",
    "fhircache",
    "axes",  # admin login throttling (see AXES_* below)
]

MIDDLEWARE = [
    "config.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: answers locked-out logins with 429
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Admin login throttling (django-axes): a user name or an address with
# AXES_FAILURE_LIMIT failed logins is refused (429) for AXES_COOLOFF_TIME; the
# counters live in Redis so every web process shares them.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "axes": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "payerbridge-axes",
    },
}
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "axes"
AXES_FAILURE_LIMIT = get_int("AXES_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=get_int("AXES_COOLOFF_MINUTES", 10, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".local" / "static"
# gunicorn serves no files: WhiteNoise serves the admin's static files, from the
# apps' own folders in DEBUG and from `collectstatic` output (the release step) otherwise.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG

_secure = PUBLIC_BASE_URL.startswith("https://")
SESSION_COOKIE_NAME = "pb_session"
SESSION_COOKIE_SECURE = _secure
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_NAME = "pb_csrftoken"
CSRF_COOKIE_SECURE = _secure
CSRF_TRUSTED_ORIGINS = [PUBLIC_BASE_URL]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _secure else None
SECURE_SSL_REDIRECT = _secure
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = get_int("SECURE_HSTS_SECONDS", 31536000 if _secure else 0)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Not "no-referrer": with it browsers send `Origin: null` on form POSTs and Django's
# CSRF origin check refuses every patient form. "same-origin" still sends nothing
# (codes, flow ids) to payers or apps.
SECURE_REFERRER_POLICY = "same-origin"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}
# FHIR API requests per app per window (fhircache.ratelimit); 0 turns the limit off.
FHIR_RATE_LIMIT_PER_WINDOW = get_int("FHIR_RATE_LIMIT_PER_WINDOW", 1200)
FHIR_RATE_LIMIT_WINDOW = get_int("FHIR_RATE_LIMIT_WINDOW", 60, minimum=1)
# Seconds between batched writes of the FHIR API's audit rows (fhircache.audit_writer);
# 0 writes each request's rows when its response is closed.
FHIR_AUDIT_FLUSH_SECONDS = get_int("FHIR_AUDIT_FLUSH_SECONDS", 1)

# --- Celery -----------------------------------------------------------------
# Celery spells a unix-socket Redis `redis+socket://`; redis-py spells it `unix://`.
_celery_redis = REDIS_URL.replace("unix://", "redis+socket://", 1)
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or _celery_redis
# Results are off by default: most task return values would hold PHI.
CELERY_RESULT_BACKEND = _celery_redis
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="payerbridge")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = get_int("CELERY_TASK_SOFT_TIME_LIMIT", 600, minimum=1)
CELERY_TASK_TIME_LIMIT = get_int("CELERY_TASK_TIME_LIMIT", 660, minimum=1)
# A message a killed worker held comes back after this many seconds; every retry
# countdown must stay below it (and the stale-job reaper acts much sooner).
CELERY_VISIBILITY_TIMEOUT = get_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # kombu sweeps for expired unacked messages every interval*throttle seconds
    # (100 s by default); a short visibility timeout needs a faster sweep.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 2)),
    "unacked_restore_throttle": 1 if CELERY_VISIBILITY_TIMEOUT < 600 else 10,
}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / ".local" / "celerybeat-schedule")
# ETL (etl/): a running sync job's heartbeat interval, and when the reaper calls it dead.
ETL_HEARTBEAT_S = get_int("ETL_HEARTBEAT_S", 5, minimum=1)
ETL_STALE_AFTER_S = get_int("ETL_STALE_AFTER_S", 60, minimum=2)
ETL_MAX_PAGES_PER_SEARCH = get_int("ETL_MAX_PAGES_PER_SEARCH", 5000, minimum=1)
ETL_MAX_ATTEMPTS = get_int("ETL_MAX_ATTEMPTS", 8, minimum=1)
ETL_PAYER_READ_TIMEOUT_S = get_int("ETL_PAYER_READ_TIMEOUT_S", 30, minimum=1)
# Webhook retries wait multiples of this (5 s, 30 s, 5 min, ... about a day in all).
WEBHOOK_RETRY_BASE_S = get_int("WEBHOOK_RETRY_BASE_S", 5, minimum=1)

# --- Logging ----------------------------------------------------------------
LOG_FORMAT = get_choice("LOG_FORMAT", "text" if DEBUG else "json", ("text", "json"))
LOG_LEVEL = get_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "config.request_id.RequestIdLogFilter"}},
    "formatters": {
        "json": {"()": "config.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own request logger prints the full path with its query string.
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # django-axes logs every login reset at INFO; lockouts come at WARNING.
        "axes": {"level": "WARNING"},
        # authlib logs whole token responses at DEBUG ("Issue token %r"): nothing
        # secret is logged, LOG_LEVEL=DEBUG included, so it never goes below INFO.
        "authlib": {"level": "INFO" if LOG_LEVEL == "DEBUG" else LOG_LEVEL},
    },
}
