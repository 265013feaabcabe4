"""Admin: lifecycle filter (due to expire, purged, failed to purge), purge/retry action,
purge history on the timeline, and audited views of PHI (quarantine, outcomes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client as Browser
from django.utils import timezone

from consent import lifecycle
from consent.models import Consent
from fhircache.models import QuarantinedResource
from tests.consent.purge_helpers import new_canary, plant_data
from tests.services import wait_until


@pytest.fixture
def admin_browser(transactional_db) -> Browser:
    user = get_user_model().objects.create_superuser("keeper", "k@example.org", "pw-123456789")
    browser = Browser()
    browser.force_login(user)
    return browser


def _listed(browser: Browser, **query) -> str:
    response = browser.get("/admin/consent/consent/", query)
    assert response.status_code == 200
    return response.content.decode()


def test_lifecycle_filter_and_retry_of_a_failed_purge(
    admin_browser, make_client, issue_code, celery_worker
):
    client = make_client()
    due = issue_code(client).consent
    Consent.objects.filter(pk=due.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    purged = issue_code(client).consent
    lifecycle.end_consent(purged, reason="test", purge_now=True)
    failed = issue_code(client).consent
    plant_data(failed, new_canary())
    lifecycle._end(failed, Consent.Status.REVOKED, "test")  # its purge never ran
    long_ago = timezone.now() - timedelta(hours=1)
    Consent.objects.filter(pk=failed.pk).update(
        data_state=Consent.DataState.PURGING, updated_at=long_ago
    )

    for value, expected in (("due", due), ("purged", purged), ("failed", failed)):
        page = _listed(admin_browser, lifecycle=value)
        others = {due, purged, failed} - {expected}
        assert str(expected.pk) in page and not any(str(o.pk) in page for o in others), value

    admin_browser.post(
        "/admin/consent/consent/",
        {"action": "purge", "_selected_action": [str(failed.pk), str(due.pk)]},
    )
    wait_until(
        lambda: Consent.objects.get(pk=failed.pk).data_state == "purged", 30, what="retried purge"
    )
    # Open consents are not purged (the worker's sync may find it has no payer grant).
    assert Consent.objects.get(pk=due.pk).status in Consent.REVOCABLE
    detail = admin_browser.get(f"/admin/consent/consent/{failed.pk}/change/").content.decode()
    assert "purge_started" in detail and "&#x27;resources&#x27;: 2" in detail


def test_viewing_quarantined_resources_is_audited(admin_browser, make_client, issue_code):
    consent = issue_code(make_client()).consent
    plant_data(consent, new_canary())
    [row] = QuarantinedResource.objects.filter(consent=consent)
    listing = admin_browser.get("/admin/fhircache/quarantinedresource/")
    assert listing.status_code == 200
    page = admin_browser.get(f"/admin/fhircache/quarantinedresource/{row.pk}/change/")
    assert page.status_code == 200
    seen = consent.events.filter(kind="admin_phi_viewed").order_by("id")
    assert [e.detail.get("object_id") for e in seen] == [None, str(row.pk)]
    assert all(e.detail["user"] == "keeper" for e in seen)
    assert seen[0].detail["rows"] == 1 and seen[1].detail["view"] == "quarantined resource"
