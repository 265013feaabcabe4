"""The typed settings helpers and the Procfile's bind helper (pure functions)."""

from __future__ import annotations

import pytest

from config import env as settings_env
from config.bind import bind_for
from config.env import SettingsError, get_bool, get_choice, get_int, get_url


@pytest.fixture
def environ(monkeypatch):
    def set_(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("TRUE", True), (" on ", True), ("0", False), ("no", False), ("off", False)],
)
def test_get_bool_reads_the_usual_spellings(environ, raw, expected):
    environ(PB_FLAG=raw)
    assert get_bool("PB_FLAG", default=not expected) is expected


def test_get_bool_default_when_unset_or_empty_and_error_when_unreadable(environ, monkeypatch):
    monkeypatch.delenv("PB_FLAG", raising=False)
    assert get_bool("PB_FLAG", default=True) is True
    environ(PB_FLAG="")  # `FLAG=` in an env file means "not set", as django-environ reads it
    assert get_bool("PB_FLAG", default=True) is True
    environ(PB_FLAG="maybe")
    with pytest.raises(SettingsError, match="PB_FLAG='maybe' is not a boolean"):
        get_bool("PB_FLAG", default=False)


def test_get_int_checks_type_and_minimum(environ):
    environ(PB_N="7")
    assert get_int("PB_N", 1, minimum=1) == 7
    environ(PB_N="seven")
    with pytest.raises(SettingsError, match="is not an integer"):
        get_int("PB_N", 1)
    environ(PB_N="0")
    with pytest.raises(SettingsError, match="must be at least 1"):
        get_int("PB_N", 1, minimum=1)


def test_get_url_checks_scheme_and_host(environ):
    environ(PB_URL="https://gateway.example.org")
    assert get_url("PB_URL", None, schemes=("https",)) == "https://gateway.example.org"
    environ(PB_URL="ftp://gateway.example.org")
    with pytest.raises(SettingsError, match="must use one of the schemes https"):
        get_url("PB_URL", None, schemes=("https",))
    environ(PB_URL="https://")
    with pytest.raises(SettingsError, match="has no host"):
        get_url("PB_URL", None, schemes=("https",))


def test_get_choice_refuses_unknown_values(environ):
    environ(PB_FMT="xml")
    with pytest.raises(SettingsError, match="must be one of json, text"):
        get_choice("PB_FMT", "json", ("json", "text"))


def test_settings_error_is_one_line_without_traceback():
    error = SettingsError("X='y' is bad")
    assert isinstance(error, SystemExit)
    assert str(error.code) == "payerbridge: configuration error: X='y' is bad"
    assert settings_env.SettingsError is SettingsError


@pytest.mark.parametrize(
    ("url", "bind"),
    [
        ("http://127.0.0.1:8000", "127.0.0.1:8000"),
        ("http://localhost:8001/", "localhost:8001"),
        ("https://gateway.example.org", "gateway.example.org:443"),
        ("http://gateway.example.org", "gateway.example.org:80"),
    ],
)
def test_bind_follows_the_public_origin(url, bind):
    assert bind_for(url) == bind
