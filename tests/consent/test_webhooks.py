"""Webhooks: signed per Standard Webhooks, sent after commit by a real worker, retried.

The receiver is a real local HTTP server; signatures are checked with the
`standardwebhooks` package as an app would check them.
"""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client as Browser

from consent import webhooks
from consent.models import WebhookDelivery
from payers.signals import send_if_changed
from tests.consent.webhook_fixtures import *  # noqa: F403 - fixtures
from tests.consent.webhook_fixtures import HOOK, received_events, verified
from tests.payers.misbehaving import Reply
from tests.services import wait_until


def test_event_is_signed_and_sent_after_commit_never_after_rollback(
    make_client, issue_code, hooked_app, webhook_receiver, fast_retry_worker
):
    client = make_client()
    app = hooked_app(client.app)
    consent = issue_code(client).consent
    consent.external_id = "user-42"
    consent.save(update_fields=["external_id"])
    with transaction.atomic():
        webhooks.emit(consent, "consent.expired", {"reason": "rolled back"})
        transaction.set_rollback(True)
    with transaction.atomic():
        webhooks.emit(consent, "consent.revoked", {"reason": "test"})
        # Not before the commit: the worker could otherwise read a row that may never exist.
        assert not webhook_receiver.hits(HOOK)

    [body] = received_events(webhook_receiver, app, "consent.revoked")
    assert body["data"] == {
        "consent_id": str(consent.pk),
        "external_id": "user-42",
        "app_mode": "test",
        "reason": "test",
    }
    assert body["timestamp"].endswith("Z")
    seen = next(s for s in webhook_receiver.hits(HOOK) if verified(app, s)["type"] == body["type"])
    delivery = WebhookDelivery.objects.get(event_type="consent.revoked", app=app)
    assert seen.headers["webhook-id"] == str(delivery.pk)
    assert seen.headers["webhook-signature"].startswith("v1,")
    wait_until(lambda: _state(delivery) == "delivered", 10, what="delivery marked delivered")
    assert not WebhookDelivery.objects.filter(event_type="consent.expired").exists()

    # A tampered body or another app's secret fails verification.
    other = make_client().app
    with pytest.raises(Exception, match="signature"):
        verified(other, seen)


def test_failing_receiver_is_retried_with_backoff_until_delivered(
    make_client, hooked_app, webhook_receiver, fast_retry_worker
):
    webhook_receiver.script(HOOK, Reply(500), Reply(503), Reply(200))
    app = hooked_app(make_client().app)
    webhooks.emit_for_app(app, "sync.failed", {"job_id": 7})
    received_events(webhook_receiver, app, "sync.failed", count=3, timeout=60)
    delivery = WebhookDelivery.objects.get(app=app)
    wait_until(lambda: _state(delivery) == "delivered", 10, what="delivery marked delivered")
    delivery.refresh_from_db()
    assert delivery.attempts == 3
    assert [entry["status"] for entry in delivery.log] == [500, 503, 200]
    # The same message id on every attempt, so the app can deduplicate.
    assert len({s.headers["webhook-id"] for s in webhook_receiver.hits(HOOK)}) == 1


def test_live_app_may_not_send_webhooks_to_private_addresses(make_client, webhook_receiver):
    app = make_client(mode="live").app
    app.webhook_url = webhook_receiver.url + HOOK  # 127.0.0.1
    app.save()
    webhooks.emit_for_app(app, "sync.completed")
    delivery = WebhookDelivery.objects.get(app=app)
    assert webhooks.deliver(delivery.pk) == WebhookDelivery.State.FAILED
    delivery.refresh_from_db()
    assert "non-public" in delivery.last_error and not webhook_receiver.hits(HOOK)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("::1", False),
        ("fe80::1", False),
        ("::ffff:127.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104 - an address under test, not a bind
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
    ],
)
def test_public_address_rule(address, public):
    assert webhooks.is_public(ipaddress.ip_address(address)) is public


def test_apps_without_a_webhook_url_get_nothing(make_client):
    app = make_client().app
    webhooks.emit_for_app(app, "sync.completed")
    assert not WebhookDelivery.objects.filter(app=app).exists()
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.emit_for_app(app, "consent.deleted")


def test_payer_status_change_reaches_apps_with_consents_there(
    make_client, issue_code, hooked_app, webhook_receiver
):
    client = make_client()
    app = hooked_app(client.app)
    consent = issue_code(client).consent
    bystander = hooked_app(make_client().app)  # no consent at that payer
    send_if_changed(consent.payer, "healthy", "failing")
    delivery = WebhookDelivery.objects.get(event_type="payer.status_changed")
    assert delivery.app == app and not WebhookDelivery.objects.filter(app=bystander).exists()
    webhooks.deliver(delivery.pk)
    [body] = received_events(webhook_receiver, app, "payer.status_changed")
    assert body["data"]["payer"]["slug"] == consent.payer.slug
    assert (body["data"]["previous"], body["data"]["status"]) == ("healthy", "failing")
    send_if_changed(consent.payer, "failing", "failing")  # no change, no event
    assert WebhookDelivery.objects.filter(event_type="payer.status_changed").count() == 1


def test_admin_delivery_log_and_redeliver(
    transactional_db, make_client, hooked_app, webhook_receiver
):
    app = hooked_app(make_client().app)
    webhooks.emit_for_app(app, "sync.completed", {"job_id": 1})
    delivery = WebhookDelivery.objects.get(app=app)
    webhooks.deliver(delivery.pk)
    assert _state(delivery) == "delivered"
    user = get_user_model().objects.create_superuser("hooks", "h@example.org", "pw-123456789")
    browser = Browser()
    browser.force_login(user)
    listing = browser.get("/admin/consent/webhookdelivery/")
    assert listing.status_code == 200 and "sync.completed" in listing.content.decode()
    assert browser.get(f"/admin/consent/webhookdelivery/{delivery.pk}/change/").status_code == 200
    browser.post(
        "/admin/consent/webhookdelivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
    )
    assert _state(delivery) == "pending"
    webhooks.deliver(delivery.pk)
    hits = webhook_receiver.hits(HOOK)
    assert len(hits) == 2 and hits[0].headers["webhook-id"] == hits[1].headers["webhook-id"]


def _state(delivery: WebhookDelivery) -> str:
    return WebhookDelivery.objects.get(pk=delivery.pk).state
