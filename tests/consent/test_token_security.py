"""Security findings of issue 12 at our token endpoint, each driven over real HTTP."""

from __future__ import annotations

import requests

from consent.models import Consent, IssuedToken
from consent.oauth import keys
from tests.consent.conftest import authorize_params, pkce_pair, query_of
from tests.consent.test_token import exchange, introspect, refresh


def test_replayed_code_revokes_the_tokens_it_issued(live_server, make_client, issue_code):
    """RFC 6749 §4.1.2 / RFC 9700 §4.2.4: a second use of a code kills what the first got."""
    client = make_client()
    issued = issue_code(client)
    body = exchange(live_server, client, issued).json()
    replay = exchange(live_server, client, issued)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert introspect(live_server, client, body["access_token"]) == {"active": False}
    assert refresh(live_server, client, body["refresh_token"]).json()["error"] == "invalid_grant"
    fhir = requests.get(
        f"{live_server.url}/api/consents",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert fhir.status_code == 401
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.REVOKED
    assert issued.consent.end_reason == "authorization_code_replay"


def test_replay_by_another_client_changes_nothing(live_server, make_client, issue_code):
    owner, stranger = make_client(), make_client()
    issued = issue_code(owner)
    body = exchange(live_server, owner, issued).json()
    assert exchange(live_server, stranger, issued).json()["error"] == "invalid_grant"
    assert introspect(live_server, owner, body["access_token"])["active"] is True


def test_basic_and_body_credentials_together_are_invalid_request(
    live_server, make_client, issue_code
):
    """RFC 6749 §2.3: a client MUST NOT use more than one authentication method per request."""
    client, other = make_client(), make_client()
    issued = issue_code(client)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
        "client_id": other.client_id,
        "client_secret": other.secret,
    }
    for url in ("token", "introspect", "revoke"):
        response = requests.post(
            f"{live_server.url}/oauth/{url}",
            data=data if url == "token" else {"token": "x", **data},
            auth=client.auth(),
            timeout=10,
        )
        assert response.status_code == 400, (url, response.text)
        assert response.json()["error"] == "invalid_request"
    assert not IssuedToken.objects.filter(consent=issued.consent).exists()
    # The same client id in the body beside Basic is identification, not a second method.
    same = dict(data, client_id=client.client_id)
    del same["client_secret"]
    ok = requests.post(f"{live_server.url}/oauth/token", data=same, auth=client.auth(), timeout=10)
    assert ok.status_code == 200, ok.text


def test_one_definition_of_a_live_token(live_server, make_client, issue_code):
    """Bearer check, introspection and the model agree; a deactivated app's tokens are dead."""
    client = make_client()
    issued = issue_code(client)
    body = exchange(live_server, client, issued).json()
    row = IssuedToken.objects.get(consent=issued.consent)
    assert row.is_live("access_token") and row.is_live("refresh_token")
    assert IssuedToken.objects.live().filter(pk=row.pk).exists()

    client.app.is_active = False
    client.app.save()
    row = IssuedToken.objects.select_related("app", "consent").get(pk=row.pk)
    assert not row.is_live("access_token") and not row.is_live("refresh_token")
    assert not IssuedToken.objects.live().filter(pk=row.pk).exists()
    from consent import bearer

    assert bearer.authenticate(body["access_token"]) is None

    client.app.is_active = True
    client.app.save()
    Consent.objects.filter(pk=issued.consent.pk).update(status=Consent.Status.REAUTH_REQUIRED)
    assert not IssuedToken.objects.live().filter(pk=row.pk).exists()
    assert introspect(live_server, client, body["access_token"]) == {"active": False}


def test_nonce_is_echoed_exactly(live_server, make_client, issue_code):
    client = make_client()
    nonce = "n" * 255
    issued = issue_code(client, nonce=nonce)
    body = exchange(live_server, client, issued).json()
    assert keys.verify(body["id_token"])["nonce"] == nonce


def test_too_long_nonce_is_refused_back_to_the_app(live_server, make_client):
    client = make_client()
    params = authorize_params(client, pkce_pair()[1], nonce="n" * 300)
    response = requests.get(
        f"{live_server.url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["error"] == "invalid_request" and "nonce" in query["error_description"]
