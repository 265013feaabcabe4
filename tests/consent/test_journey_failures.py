"""Failures of the patient journey that need no sandbox: CSRF, mode, state, unreachable payer,
expiry. Each lands on a clear page (with a way back to the app when it is known) and
changes nothing it should not."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from consent.models import AuthorizationFlow, Consent, PayerGrant
from payers.models import Payer
from tests.consent.conftest import query_of
from tests.consent.journey import choose, start


@pytest.fixture
def unreachable_payer(db_payer):
    """A sandbox payer whose endpoints point at a closed port."""

    def make(sandbox: bool = True) -> Payer:
        payer = db_payer(sandbox=sandbox)
        payer.authorize_url = "http://127.0.0.1:9/authorize"
        payer.token_url = "http://127.0.0.1:9/token"
        payer.client_id = "gateway"
        payer.save()
        return payer

    return make


def test_form_post_without_csrf_token_is_refused(live_server, make_client, unreachable_payer):
    payer = unreachable_payer()
    started = start(live_server, make_client())
    response = choose(live_server, started, payer.slug, csrf=False)
    assert response.status_code == 403
    assert not Consent.objects.exists()
    assert AuthorizationFlow.objects.get().step == AuthorizationFlow.Step.STARTED


def test_test_mode_app_cannot_reach_a_real_payer(live_server, make_client, unreachable_payer):
    real = unreachable_payer(sandbox=False)
    started = start(live_server, make_client(mode="test"))
    response = choose(live_server, started, real.slug)
    assert response.status_code == 403
    assert "cannot connect" in response.text
    assert not Consent.objects.exists()
    assert AuthorizationFlow.objects.get().step == AuthorizationFlow.Step.STARTED


def test_live_mode_app_cannot_reach_a_sandbox_payer(live_server, make_client, unreachable_payer):
    sandbox = unreachable_payer(sandbox=True)
    started = start(live_server, make_client(mode="live"))
    assert choose(live_server, started, sandbox.slug).status_code == 403
    assert not Consent.objects.exists()


@pytest.mark.parametrize(
    "hidden",
    [
        {"patient_access_unconfirmed": True},  # an admin has yet to verify it
        {"published_status": Payer.PublishedStatus.OFFLINE},
        {"go_live_date": timezone.localdate() + timedelta(days=30)},
    ],
)
def test_a_payer_the_picker_hides_cannot_be_chosen_by_a_crafted_post(
    live_server, make_client, unreachable_payer, hidden
):
    payer = unreachable_payer()
    Payer.objects.filter(pk=payer.pk).update(**hidden)
    started = start(live_server, make_client())
    response = choose(live_server, started, payer.slug)
    assert response.status_code == 403 and "cannot be chosen" in response.text
    assert not Consent.objects.exists()


def _at_payer(live_server, make_client, unreachable_payer):
    payer = unreachable_payer()
    started = start(live_server, make_client())
    response = choose(live_server, started, payer.slug)
    assert response.status_code == 302
    to_payer = response.headers["Location"]
    assert to_payer.startswith(payer.authorize_url)
    query = query_of(to_payer)
    assert query["code_challenge_method"] == "S256" and query["aud"] == payer.fhir_base_url
    assert query["redirect_uri"] == f"{live_server.url}/payers/callback"
    return started, query["state"]


def callback(live_server, started, **params):
    url = f"{live_server.url}/payers/callback?{urlencode(params)}"
    return started.browser.get(url, allow_redirects=False, timeout=10)


def test_tampered_state_at_the_callback_changes_nothing(
    live_server, make_client, unreachable_payer
):
    started, state = _at_payer(live_server, make_client, unreachable_payer)
    response = callback(live_server, started, code="abc", state=state[:-2] + "xx")
    assert response.status_code == 400
    assert "do not recognise" in response.text
    flow = AuthorizationFlow.objects.get()
    assert flow.step == AuthorizationFlow.Step.AT_PAYER
    assert flow.consent.status == Consent.Status.PENDING
    assert not PayerGrant.objects.exists()


def test_callback_state_from_another_browser_is_refused(
    live_server, make_client, unreachable_payer
):
    import requests

    _, state = _at_payer(live_server, make_client, unreachable_payer)
    other = requests.get(f"{live_server.url}/payers/callback?code=abc&state={state}", timeout=10)
    assert other.status_code == 400
    assert AuthorizationFlow.objects.get().step == AuthorizationFlow.Step.AT_PAYER


def test_unreachable_payer_fails_clearly_and_a_replayed_state_is_refused(
    live_server, make_client, unreachable_payer
):
    started, state = _at_payer(live_server, make_client, unreachable_payer)
    response = callback(live_server, started, code="abc", state=state)
    assert response.status_code == 400
    assert "could not be reached" in response.text
    back = query_of(response.text.split('href="', 2)[-1].split('"')[0].replace("&amp;", "&"))
    assert back == {"error": "access_denied", "state": started.params["state"]}
    consent = Consent.objects.get()
    assert consent.status == Consent.Status.FAILED

    replay = callback(live_server, started, code="abc", state=state)
    assert replay.status_code == 400
    consent.refresh_from_db()
    assert consent.status == Consent.Status.FAILED and not PayerGrant.objects.exists()


def test_patient_cancel_at_payer_is_denied_with_a_way_back(
    live_server, make_client, unreachable_payer
):
    started, state = _at_payer(live_server, make_client, unreachable_payer)
    response = callback(live_server, started, error="access_denied", state=state)
    assert response.status_code == 400
    assert "You cancelled at your health plan" in response.text
    assert "Return to " in response.text
    assert Consent.objects.get().status == Consent.Status.DENIED


def test_expired_flow_lands_on_a_clear_page(live_server, make_client, unreachable_payer):
    started, _ = _at_payer(live_server, make_client, unreachable_payer)
    AuthorizationFlow.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    page = started.browser.get(started.flow_url, timeout=10)
    assert page.status_code == 400 and "expired" in page.text
    assert "Return to " in page.text
    assert Consent.objects.get().status == Consent.Status.FAILED


def test_cancel_button_sends_access_denied_to_the_app(live_server, make_client):
    started = start(live_server, make_client())
    response = started.browser.post(
        f"{started.flow_url}cancel",
        data={"csrfmiddlewaretoken": started.csrf_token()},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    assert query_of(response.headers["Location"]) == {
        "error": "access_denied",
        "state": started.params["state"],
    }


@pytest.mark.parametrize(
    ("mode", "shown", "hidden"), [("test", True, False), ("live", False, True)]
)
def test_picker_offers_only_the_payers_the_apps_mode_may_reach(
    live_server, make_client, unreachable_payer, mode, shown, hidden
):
    sandbox, real = unreachable_payer(sandbox=True), unreachable_payer(sandbox=False)
    started = start(live_server, make_client(mode=mode))
    page = started.browser.get(f"{started.flow_url}payer", params={"q": "Plan"}, timeout=10)
    assert page.status_code == 200
    assert (f'value="{sandbox.slug}"' in page.text) is shown
    assert (f'value="{real.slug}"' in page.text) is hidden


def test_payer_error_fails_the_consent_with_a_way_back(live_server, make_client, unreachable_payer):
    started, state = _at_payer(live_server, make_client, unreachable_payer)
    response = callback(live_server, started, error="server_error", state=state)
    assert response.status_code == 400
    assert "reported a problem" in response.text and "Return to " in response.text
    assert Consent.objects.get().status == Consent.Status.FAILED


@pytest.mark.parametrize("error", ["access\x00denied", "x" * 5000, 'bad"\\<b>error</b>\n'])
def test_payer_error_with_odd_characters_is_a_clear_page(
    live_server, make_client, unreachable_payer, error
):
    """The `error` at the callback comes from the browser: never a 500, never echoed raw."""
    started, state = _at_payer(live_server, make_client, unreachable_payer)
    response = callback(live_server, started, error=error, state=state)
    assert response.status_code == 400 and "Return to " in response.text
    assert "<b>error" not in response.text
    consent = Consent.objects.get()
    assert consent.status == Consent.Status.FAILED
    assert "\x00" not in consent.end_reason


def test_payer_token_error_with_odd_characters_is_a_clear_page(
    live_server, make_client, unreachable_payer
):
    """The payer's own error text is shown, stored and logged: only printable ASCII of it."""
    from tests.payers.misbehaving import MisbehavingServer, Reply

    payer_server = MisbehavingServer().start()
    try:
        payer_server.script("/token", Reply(400, {"error": "invalid_grant\u0000<i>x</i>\u00e9"}))
        started, state = _at_payer(live_server, make_client, unreachable_payer)
        Payer.objects.update(token_url=f"{payer_server.url}/token")
        response = callback(live_server, started, code="abc", state=state)
    finally:
        payer_server.stop()
    assert response.status_code == 400 and "Return to " in response.text
    assert "payer refused: invalid_grant&lt;i&gt;x&lt;/i&gt;." in response.text
    consent = Consent.objects.get()
    assert consent.status == Consent.Status.FAILED and "\x00" not in consent.end_reason


@pytest.mark.parametrize("change", ["redirect_uris", "is_active"])
def test_cancel_never_sends_the_patient_to_a_redirect_uri_no_longer_registered(
    live_server, make_client, change
):
    client = make_client()
    started = start(live_server, client)
    token = started.csrf_token()
    if change == "redirect_uris":
        client.app.redirect_uris = ["http://127.0.0.1:9/new-callback"]
    else:
        client.app.is_active = False
    client.app.save()
    response = started.browser.post(
        f"{started.flow_url}cancel",
        data={"csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 400 and "Location" not in response.headers
    assert "127.0.0.1:9/callback" not in response.text
    assert AuthorizationFlow.objects.get().step == AuthorizationFlow.Step.FAILED
