"""Typed settings helpers that fail loudly.

django-environ reads the variables; these wrappers make a bad value stop the
process with one clear line instead of silently becoming a default.
"""

from __future__ import annotations

import sys
from urllib.parse import urlsplit

import environ

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(SystemExit):
    """Raised for a missing or malformed setting; prints one line, no traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(f"payerbridge: configuration error: {message}")


def get_bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean (use 1/0, true/false)")


def get_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=None)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} must be at least {minimum}")
    return value


def get_url(name: str, default: str | None, *, schemes: tuple[str, ...]) -> str | None:
    raw = env.str(name, default=None) or default
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise SettingsError(f"{name}={raw!r} must use one of the schemes {', '.join(schemes)}")
    if parts.scheme in ("http", "https") and not parts.netloc:
        raise SettingsError(f"{name}={raw!r} has no host")
    return raw


def get_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.str(name, default=default)
    if value not in choices:
        raise SettingsError(f"{name}={value!r} must be one of {', '.join(choices)}")
    return value


def require(missing: list[str]) -> None:
    if missing:
        print(
            "payerbridge: refusing to start: missing required setting(s) "
            f"{', '.join(missing)} (set them, or DEBUG=1 for development defaults)",
            file=sys.stderr,
        )
        raise SystemExit(2)


def require_dev_services(database_url: str, redis_url: str) -> tuple[str, str]:
    """The URLs of the embedded services that are running, for what is not set; else exit.

    Development only (DEBUG on): one line says how to start them.
    """
    from config.devservices import running_services

    found = running_services()
    database_url = database_url or found.get("DATABASE_URL", "")
    redis_url = redis_url or found.get("REDIS_URL", "")
    missing = [n for n, v in (("DATABASE_URL", database_url), ("REDIS_URL", redis_url)) if not v]
    if missing:
        print(
            f"payerbridge: {' and '.join(missing)} not set and the embedded services are not "
            "running: start them with `make run` (or `python -m config.devservices run -- "
            "python manage.py ...`), or set the variable(s)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    return database_url, redis_url
