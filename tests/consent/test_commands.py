"""createapp (DESIGN.md Interfaces), rotate_keys, seed_demo's demo app."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from config.crypto import encrypt
from consent.management.commands.rotate_keys import rotate_all
from consent.models import App
from consent.secrets import digest


def createapp(*args: str) -> dict:
    out = StringIO()
    call_command("createapp", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_createapp_confidential_prints_secret_once_and_stores_only_its_digest():
    result = createapp("--name", "Acme", "--redirect-uri", "https://acme.example/cb")
    assert set(result) == {"client_id", "client_secret", "redirect_uris", "mode", "scopes"}
    assert result["mode"] == "test" and result["redirect_uris"] == ["https://acme.example/cb"]
    app = App.objects.get(client_id=result["client_id"])
    assert app.client_secret_hash == digest(result["client_secret"])
    assert app.check_client_secret(result["client_secret"])
    assert app.webhook_secret.startswith("whsec_")


@pytest.mark.django_db
def test_createapp_public_live_with_scopes_and_two_redirects():
    result = createapp(
        "--name",
        "Pub",
        "--redirect-uri",
        "https://a.example/cb",
        "--redirect-uri",
        "http://127.0.0.1:5000/cb",
        "--mode",
        "live",
        "--scopes",
        "launch/patient patient/Coverage.rs",
        "--public",
    )
    assert result["client_secret"] is None
    assert result["mode"] == "live" and len(result["redirect_uris"]) == 2
    assert result["scopes"] == "launch/patient patient/Coverage.rs"
    assert App.objects.get(client_id=result["client_id"]).is_public


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--redirect-uri", "http://evil.example/cb"],  # http only for loopback
        ["--redirect-uri", "https://a.example/cb#frag"],
        ["--redirect-uri", "https://a.example/cb", "--scopes", "patient/*.write"],
    ],
)
def test_createapp_refuses_bad_input(args):
    with pytest.raises(CommandError):
        createapp("--name", "Bad", *args)
    assert not App.objects.exists()


def _raw_webhook_secret(app: App) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT webhook_secret FROM consent_app WHERE id = %s", [app.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_rotate_keys_reencrypts_under_the_new_first_key(settings):
    old_key = settings.ENCRYPTION_KEYS[0]
    app = App.objects.create(name="R", client_id="r", redirect_uris=["https://r.example/cb"])
    secret = app.set_new_webhook_secret()
    app.save()
    before = _raw_webhook_secret(app)

    new_key = Fernet.generate_key().decode()
    settings.ENCRYPTION_KEYS = [new_key, old_key]
    counts = rotate_all()
    assert counts["consent.App.webhook_secret"] >= 1
    after = _raw_webhook_secret(app)
    assert after != before and secret not in after
    assert Fernet(new_key.encode()).decrypt(after.encode()).decode() == secret

    settings.ENCRYPTION_KEYS = [new_key]  # the old key can go now
    assert App.objects.get(pk=app.pk).webhook_secret == secret
    assert encrypt("x") != "x"


@pytest.mark.django_db
def test_seed_demo_makes_a_public_demo_app_idempotently(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-test-password")  # DEBUG is off in tests
    call_command("seed_demo", stdout=StringIO())
    call_command("seed_demo", stdout=StringIO())
    app = App.objects.get(client_id="payerbridge-demo")
    assert app.is_public and app.mode == "test"


def test_system_check_refuses_plain_http_public_base_url(settings):
    from consent.checks import public_base_url_is_secure

    settings.PUBLIC_BASE_URL = "http://payerbridge.example"
    [error] = public_base_url_is_secure(None)
    assert error.id == "consent.E001"
    settings.PUBLIC_BASE_URL = "https://payerbridge.example"
    assert public_base_url_is_secure(None) == []
