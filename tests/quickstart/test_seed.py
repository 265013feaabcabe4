"""`seed_demo` registers the quickstart: idempotent, following QUICKSTART_BASE_URL."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from consent.management.commands.seed_demo import QUICKSTART_CLIENT_ID, seed_quickstart_app
from consent.models import App


@pytest.mark.django_db
def test_seed_demo_registers_the_quickstart_once_and_follows_its_origin(monkeypatch):
    monkeypatch.setenv("QUICKSTART_BASE_URL", "http://localhost:8002")
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-test-password")  # DEBUG is off in tests
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=out)
    app = App.objects.get(client_id=QUICKSTART_CLIENT_ID)
    assert "Quickstart app (already present)" in out.getvalue()
    assert app.is_public and app.mode == App.Mode.TEST
    assert app.redirect_uris == ["http://localhost:8002/callback"]
    assert app.webhook_url == "http://localhost:8002/webhooks"
    assert app.webhook_secret.startswith("whsec_")

    seed_quickstart_app("http://127.0.0.1:9123/")
    app.refresh_from_db()
    assert app.redirect_uris == ["http://127.0.0.1:9123/callback"]
    assert App.objects.filter(client_id=QUICKSTART_CLIENT_ID).count() == 1
