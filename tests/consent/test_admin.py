"""Admin pages: apps (rotate secret), consents (filters, search, timeline, revoke)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as Browser

from consent.models import App, Consent


@pytest.fixture
def admin_browser(transactional_db) -> Browser:
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    browser = Browser()
    browser.force_login(user)
    return browser


def test_consent_admin_lists_filters_searches_shows_timeline_and_revokes(
    admin_browser, make_client, issue_code
):
    issued = issue_code(make_client(), patient="pat-admin")
    consent = issued.consent
    listing = admin_browser.get("/admin/consent/consent/", {"status__exact": "active"})
    assert listing.status_code == 200 and str(consent.pk) in listing.content.decode()
    found = admin_browser.get("/admin/consent/consent/", {"q": "pat-admin"})
    assert str(consent.pk) in found.content.decode()
    detail = admin_browser.get(f"/admin/consent/consent/{consent.pk}/change/")
    assert detail.status_code == 200 and "granted" in detail.content.decode()

    response = admin_browser.post(
        "/admin/consent/consent/",
        {"action": "revoke", "_selected_action": [str(consent.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    consent.refresh_from_db()
    assert consent.status == Consent.Status.REVOKED
    assert consent.end_reason.startswith("revoked_by_admin")


def test_app_admin_rotates_the_client_secret(admin_browser, make_client):
    client = make_client()
    old_hash = client.app.client_secret_hash
    response = admin_browser.post(
        "/admin/consent/app/",
        {"action": "rotate_client_secret", "_selected_action": [str(client.app.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    app = App.objects.get(pk=client.app.pk)
    assert app.client_secret_hash != old_hash
    assert not app.check_client_secret(client.secret)
    message = next(str(m) for m in response.context["messages"])
    new_secret = message.split("new client secret ", 1)[1].split(" ", 1)[0]
    assert app.check_client_secret(new_secret)
    assert admin_browser.get("/admin/consent/app/", {"mode__exact": "test"}).status_code == 200


@pytest.mark.parametrize(
    "redirect_uris",
    [
        '"http://127.0.0.1:9/callback"',  # a string: `in` would match any substring
        '["javascript:alert(1)//"]',
        '["http://app.example/callback"]',  # http only for loopback
        '["http://127.0.0.1:9/cb#frag"]',
        "[]",
    ],
)
def test_app_admin_refuses_redirect_uris_that_are_not_a_list_of_exact_uris(
    admin_browser, make_client, redirect_uris
):
    client = make_client()
    app = client.app
    form = {
        "name": app.name,
        "client_id": app.client_id,
        "redirect_uris": redirect_uris,
        "mode": app.mode,
        "scopes": app.scopes,
        "consent_policy": app.consent_policy,
        "sync_frequency": app.sync_frequency,
        "is_active": "on",
    }
    response = admin_browser.post(f"/admin/consent/app/{app.pk}/change/", form)
    assert response.status_code == 200  # the form again, with the error
    assert App.objects.get(pk=app.pk).redirect_uris == app.redirect_uris
    good = {**form, "redirect_uris": '["https://app.example/callback"]'}
    assert admin_browser.post(f"/admin/consent/app/{app.pk}/change/", good).status_code == 302
    assert App.objects.get(pk=app.pk).redirect_uris == ["https://app.example/callback"]
    assert not App(redirect_uris="http://127.0.0.1:9/callback").check_redirect_uri("/callback")
