"""The patient's receipt (signed link, revoke button) and the first-sync request on grant."""

from __future__ import annotations

import requests

from consent.models import Consent, IssuedToken
from consent.receipts import receipt_url
from tests.forms import submit
from tests.services import wait_until


def test_receipt_shows_the_consent_and_revokes_it(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    token = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": issued.code,
            "redirect_uri": issued.redirect_uri,
            "code_verifier": issued.verifier,
        },
        auth=client.auth(),
        timeout=10,
    ).json()
    url = receipt_url(issued.consent)
    assert url.startswith(live_server.url)
    browser = requests.Session()
    page = browser.get(url, timeout=10)
    assert page.status_code == 200
    assert client.app.name in page.text and issued.consent.payer.name in page.text

    # Without the CSRF token the revoke button does nothing.
    assert browser.post(url, timeout=10).status_code == 403
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.ACTIVE

    after = submit(browser, page, button="Revoke access")
    assert after.status_code == 200 and "has ended" in after.text
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.REVOKED
    assert not IssuedToken.objects.filter(consent=issued.consent, revoked_at__isnull=True).exists()
    info = requests.post(
        f"{live_server.url}/oauth/introspect",
        data={"token": token["access_token"]},
        auth=client.auth(),
        timeout=10,
    ).json()
    assert info == {"active": False}


def test_patient_can_revoke_a_consent_waiting_for_reauthorization(
    live_server, make_client, issue_code
):
    issued = issue_code(make_client())
    Consent.objects.filter(pk=issued.consent.pk).update(status=Consent.Status.REAUTH_REQUIRED)
    browser = requests.Session()
    page = browser.get(receipt_url(issued.consent), timeout=10)
    assert page.status_code == 200 and "sign in at your health plan again" in page.text
    after = submit(browser, page, button="Revoke access")
    assert after.status_code == 200 and "has ended" in after.text
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.REVOKED
    assert issued.consent.end_reason == "revoked_by_patient"


def test_tampered_receipt_link_is_not_found(live_server, make_client, issue_code):
    issued = issue_code(make_client())
    url = receipt_url(issued.consent)
    assert requests.get(url[:-3] + "abc", timeout=10).status_code == 404
    assert requests.get(url.split("?")[0], timeout=10).status_code == 404
    # A link signed for the right id but the wrong nonce is refused too.
    issued.consent.receipt_nonce = "other"
    assert requests.get(receipt_url(issued.consent), timeout=10).status_code == 404


def test_granting_starts_the_first_sync_job(live_server, make_client, issue_code, celery_worker):
    """Granting enqueues the first sync; with no payer authorization stored (this
    fixture skips the payer sign-in) the job fails in words and claims no data."""
    from etl.models import SyncJob

    issued = issue_code(make_client())
    consent = issued.consent
    job = wait_until(
        lambda: SyncJob.objects.filter(consent=consent, state=SyncJob.State.FAILED).first(),
        timeout=120,
        what="the first sync job to end",
    )
    assert consent.events.filter(kind="sync_requested").count() == 1
    assert job.reason == "first_sync" and job.kind == SyncJob.Kind.FULL
    assert "no payer authorization is stored" in job.last_error
    consent.refresh_from_db()
    assert consent.data_state == Consent.DataState.FAILED
    assert consent.status == Consent.Status.REAUTH_REQUIRED
    assert consent.consent_text_version and consent.granted_at
