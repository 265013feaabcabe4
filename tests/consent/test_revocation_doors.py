"""Every door that ends a consent, end to end: a patient connected through a sandbox
payer, data synced by a real worker, then the door; afterwards `verify_purged`
finds nothing (canary included), our tokens are refused, the payer's token is
refused by the sandbox payer, the app got its webhook and the audit rows remain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client as Browser
from django.utils import timezone

from consent import housekeeping
from consent.models import Consent, PayerGrant
from consent.receipts import receipt_url
from fhircache.models import DataAccess
from payers.models import Payer
from tests.consent.conftest import query_of
from tests.consent.journey import start
from tests.consent.purge_helpers import new_canary, plant_data, sandbox_login, verify
from tests.consent.test_journey import click_through, to_payer_consent
from tests.consent.webhook_fixtures import *  # noqa: F403 - fixtures
from tests.consent.webhook_fixtures import received_events
from tests.forms import submit
from tests.services import wait_until

PAYER = "lakeshore-health"  # grants refresh tokens, so both kinds are revoked at the payer


@dataclass
class Connected:
    live_url: str
    client: object
    consent: Consent
    token: dict
    payer: Payer
    payer_access_token: str
    canary: str

    def bearer(self) -> dict:
        return {"Authorization": f"Bearer {self.token['access_token']}"}


@pytest.fixture
def login(sandbox_payers) -> dict:
    return sandbox_login(PAYER)


@pytest.fixture
def connect(live_server, make_client, hooked_app, login, fast_retry_worker):
    def connected() -> Connected:
        client = make_client()
        hooked_app(client.app)
        started = start(live_server, client)
        payer = Payer.objects.get(slug=PAYER)
        back = click_through(started.browser, started.browser.get(started.flow_url), payer, login)
        token = requests.post(
            f"{live_server.url}/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": query_of(back)["code"],
                "redirect_uri": started.params["redirect_uri"],
                "code_verifier": started.verifier,
            },
            auth=client.auth(),
            timeout=10,
        ).json()
        consent = Consent.objects.get(pk=token["consent_id"])
        grant = PayerGrant.objects.get(consent=consent)
        wait_until(lambda: _data_state(consent) in ("ready", "partial"), 60, what="first sync done")
        canary = new_canary()
        plant_data(consent, canary)
        read = requests.get(
            f"{live_server.url}/fhir/Patient/{consent.patient_id}",
            headers={"Authorization": f"Bearer {token['access_token']}"},
            timeout=10,
        )
        assert read.status_code == 200, read.text[:300]
        return Connected(live_server.url, client, consent, token, payer, grant.access_token, canary)

    return connected


def _data_state(consent: Consent) -> str:
    return Consent.objects.values_list("data_state", flat=True).get(pk=consent.pk)


# --- the doors -----------------------------------------------------------------------


def oauth_revoke(c: Connected, kind: str = "access_token") -> None:
    response = requests.post(
        f"{c.live_url}/oauth/revoke", data={"token": c.token[kind]}, auth=c.client.auth()
    )
    assert response.status_code == 200


def refresh_reuse(c: Connected) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": c.token["refresh_token"]}
    first = requests.post(f"{c.live_url}/oauth/token", data=form, auth=c.client.auth())
    assert first.status_code == 200
    again = requests.post(f"{c.live_url}/oauth/token", data=form, auth=c.client.auth())
    assert again.json()["error"] == "invalid_grant"


def api_revoke(c: Connected) -> None:
    app_token = requests.post(
        f"{c.live_url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consents"},
        auth=c.client.auth(),
    ).json()["access_token"]
    response = requests.post(
        f"{c.live_url}/api/consents/{c.consent.pk}/revoke",
        headers={"Authorization": f"Bearer {app_token}"},
    )
    assert response.status_code == 200 and response.json()["status"] == "revoked"


def receipt(c: Connected) -> None:
    browser = requests.Session()
    page = browser.get(receipt_url(c.consent), timeout=10)
    assert "has ended" in submit(browser, page, button="Revoke access").text


def admin_action(c: Connected) -> None:
    user = get_user_model().objects.create_superuser("door", "d@example.org", "pw-123456789")
    browser = Browser()
    browser.force_login(user)
    browser.post(
        "/admin/consent/consent/", {"action": "revoke", "_selected_action": [str(c.consent.pk)]}
    )


def expunge(c: Connected) -> None:
    response = requests.post(
        f"{c.live_url}/fhir/Patient/{c.consent.patient_id}/$expunge", headers=c.bearer()
    )
    assert response.status_code < 300, response.text[:300]


def expiry(c: Connected) -> None:
    Consent.objects.filter(pk=c.consent.pk).update(expires_at=timezone.now() - timedelta(1))
    assert housekeeping.run()["expired"] == 1


DOORS: dict[str, tuple[Callable[[Connected], None], str]] = {
    "oauth_revoke_access_token": (oauth_revoke, "consent.revoked"),
    "oauth_revoke_refresh_token": (lambda c: oauth_revoke(c, "refresh_token"), "consent.revoked"),
    "refresh_token_reuse": (refresh_reuse, "consent.revoked"),
    "api_revoke": (api_revoke, "consent.revoked"),
    "receipt": (receipt, "consent.revoked"),
    "admin_action": (admin_action, "consent.revoked"),
    "expunge": (expunge, "consent.revoked"),
    "expiry": (expiry, "consent.expired"),
}


def test_every_door_ends_purges_and_tells(connect, webhook_receiver):
    """One test over all doors: one worker, one sandbox, one cold start for them all."""
    connected = {door: connect() for door in DOORS}
    for door, c in connected.items():
        DOORS[door][0](c)
    for door, c in connected.items():
        wait_until(lambda c=c: _data_state(c.consent) == "purged", 60, what=f"{door} purged")
        _assert_left_nothing(c, DOORS[door][1], webhook_receiver)


def _assert_left_nothing(c: Connected, event: str, webhook_receiver) -> None:
    code, report = verify(c.consent, c.canary)
    assert code == 0, report
    # Our tokens: refused at once, everywhere.
    fhir = requests.get(f"{c.live_url}/fhir/Patient/{c.token['patient']}", headers=c.bearer())
    assert fhir.status_code == 401
    for kind in ("access_token", "refresh_token"):
        info = requests.post(
            f"{c.live_url}/oauth/introspect", data={"token": c.token[kind]}, auth=c.client.auth()
        )
        assert info.json() == {"active": False}
    # The payer's token: refused by the payer itself.
    _assert_payer_refuses(c.payer, c.payer_access_token, c.token["patient"])
    # The app was told; the record that access happened stays.
    [body] = received_events(webhook_receiver, c.client.app, event)
    assert body["data"]["consent_id"] == str(c.consent.pk)
    assert DataAccess.objects.filter(consent=c.consent).exists()
    kinds = set(c.consent.events.values_list("kind", flat=True))
    assert {"granted", "purged", "payer_tokens_revoked"} <= kinds


def test_deny_on_our_review_page_revokes_the_payer_tokens(
    live_server, make_client, login, sandbox_payers
):
    payer = Payer.objects.get(slug=PAYER)
    started = start(live_server, make_client())
    browser = started.browser
    at_payer = to_payer_consent(browser, browser.get(started.flow_url, timeout=30), payer, login)
    review = submit(browser, at_payer, button="Allow")
    consent = Consent.objects.get(flows__pk=started.flow_id)
    payer_token = PayerGrant.objects.get(consent=consent).access_token
    denied = submit(browser, review, button="Deny", allow_redirects=False)
    assert query_of(denied.headers["Location"])["error"] == "access_denied"
    consent.refresh_from_db()
    assert (consent.status, consent.data_state) == ("denied", "purged")
    assert verify(consent, payer_token)[0] == 0
    _assert_payer_refuses(payer, payer_token, login["patient_id"])
    assert consent.events.filter(kind="payer_tokens_revoked").exists()


def _assert_payer_refuses(payer: Payer, token: str, patient_id: str) -> None:
    response = requests.get(
        f"{payer.fhir_base_url}/Patient/{patient_id}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"},
        timeout=10,
    )
    assert response.status_code == 401
