"""Token endpoint, introspection, revocation and the app-level API over real HTTP."""

from __future__ import annotations

import logging

import pytest
import requests

from consent.models import Consent, IssuedToken
from consent.oauth import keys


def token_request(live_server, client, data: dict, *, basic: bool = True) -> requests.Response:
    data = dict(data)
    auth = None
    if client.secret and basic:
        auth = client.auth()
    elif client.secret:
        data.update(client_id=client.client_id, client_secret=client.secret)
    else:
        data["client_id"] = client.client_id
    return requests.post(f"{live_server.url}/oauth/token", data=data, auth=auth, timeout=10)


def exchange(live_server, client, issued, **overrides) -> requests.Response:
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
        **overrides,
    }
    return token_request(live_server, client, data)


def test_code_exchange_returns_the_design_token_response(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client, patient="pat-42")
    response = exchange(live_server, client, issued)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert 0 < body["expires_in"] <= 3600
    assert body["patient"] == "pat-42"
    assert body["consent_id"] == str(issued.consent.pk)
    assert body["consent_expires_at"].endswith("Z")
    assert body["refresh_token"] and body["access_token"]
    assert "patient/*.read" in body["scope"].split()
    claims = keys.verify(body["id_token"])
    assert claims["fhirUser"] == f"{live_server.url}/fhir/Patient/pat-42"
    assert claims["aud"] == client.client_id and claims["iss"] == live_server.url
    jwks = requests.get(f"{live_server.url}/oauth/jwks", timeout=10).json()
    assert all("d" not in key for key in jwks["keys"])  # public parts only


def test_public_client_with_post_auth_and_no_offline_access_gets_no_refresh_token(
    live_server, make_client, issue_code
):
    client = make_client(public=True)
    issued = issue_code(client, scope="launch/patient patient/ExplanationOfBenefit.rs")
    body = exchange(live_server, client, issued).json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["scope"] == "launch/patient patient/ExplanationOfBenefit.rs"


def test_client_secret_post_works(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
    }
    assert token_request(live_server, client, data, basic=False).status_code == 200


def _no_tokens(consent: Consent) -> bool:
    return not IssuedToken.objects.filter(consent=consent).exists()


def test_wrong_verifier_is_invalid_grant_and_the_code_still_works(
    live_server, make_client, issue_code
):
    client = make_client()
    issued = issue_code(client)
    wrong = "x" * 60
    response = exchange(live_server, client, issued, code_verifier=wrong)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert _no_tokens(issued.consent)
    assert exchange(live_server, client, issued).status_code == 200


@pytest.mark.parametrize(
    "verifier",
    ["a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "=", "a" * 43 + "\n", "\u00e9" * 43],
)
def test_verifier_outside_rfc7636_syntax_is_invalid_request(
    live_server, make_client, issue_code, verifier
):
    """RFC 7636 §4.1: code_verifier = 43*128unreserved; the code stays usable."""
    client = make_client()
    issued = issue_code(client)
    response = exchange(live_server, client, issued, code_verifier=verifier)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"
    assert _no_tokens(issued.consent)
    assert exchange(live_server, client, issued).status_code == 200


def test_missing_verifier_is_invalid_request(live_server, make_client, issue_code):
    client = make_client(public=True)
    issued = issue_code(client)
    response = exchange(live_server, client, issued, code_verifier="")
    assert response.json()["error"] == "invalid_request"
    assert _no_tokens(issued.consent)


def test_reused_code_is_invalid_grant(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    first = exchange(live_server, client, issued)
    assert first.status_code == 200
    again = exchange(live_server, client, issued)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert IssuedToken.objects.filter(consent=issued.consent).count() == 1


def test_code_from_another_client_is_invalid_grant(live_server, make_client, issue_code):
    owner, thief = make_client(), make_client()
    issued = issue_code(owner)
    response = exchange(live_server, thief, issued)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert _no_tokens(issued.consent)
    assert exchange(live_server, owner, issued).status_code == 200


def test_wrong_client_secret_is_invalid_client(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    client.secret = "not-the-secret"
    response = exchange(live_server, client, issued)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"


def test_redirect_uri_must_match_the_code(live_server, make_client, issue_code):
    client = make_client(redirect_uris=["http://127.0.0.1:9/callback", "http://127.0.0.1:9/cb2"])
    issued = issue_code(client)
    response = exchange(live_server, client, issued, redirect_uri="http://127.0.0.1:9/cb2")
    assert response.json()["error"] == "invalid_grant"


def refresh(live_server, client, refresh_token: str) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return token_request(live_server, client, data)


def test_refresh_rotates_and_reuse_ends_the_consent(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    first = exchange(live_server, client, issued).json()
    refreshed = refresh(live_server, client, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["consent_id"] == first["consent_id"]

    reuse = refresh(live_server, client, first["refresh_token"])
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.REVOKED
    assert issued.consent.end_reason == "refresh_token_reuse"
    # Every token of the consent died with it, the rotated one included.
    again = refresh(live_server, client, second["refresh_token"])
    assert again.json()["error"] == "invalid_grant"
    assert introspect(live_server, client, second["access_token"]) == {"active": False}


def introspect(live_server, client, token: str) -> dict:
    data = {"token": token}
    if not client.secret:
        data["client_id"] = client.client_id
    response = requests.post(
        f"{live_server.url}/oauth/introspect", data=data, auth=client.auth(), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_introspection_and_revocation(live_server, make_client, issue_code):
    client, other = make_client(), make_client()
    issued = issue_code(client, patient="pat-7")
    body = exchange(live_server, client, issued).json()
    info = introspect(live_server, client, body["access_token"])
    assert info["active"] is True
    assert info["patient"] == "pat-7" and info["consent_id"] == body["consent_id"]
    assert info["client_id"] == client.client_id and info["exp"] > 0
    assert info["consent_expires_at"] == body["consent_expires_at"]
    assert set(info["scope"].split()) == set(body["scope"].split())
    # Another app cannot introspect it; a bad secret is refused outright.
    assert introspect(live_server, other, body["access_token"]) == {"active": False}
    bad = requests.post(
        f"{live_server.url}/oauth/introspect",
        data={"token": body["access_token"]},
        auth=(client.client_id, "wrong"),
        timeout=10,
    )
    assert bad.status_code == 401

    revoked = requests.post(
        f"{live_server.url}/oauth/revoke",
        data={"token": body["refresh_token"]},
        auth=client.auth(),
        timeout=10,
    )
    assert revoked.status_code == 200
    issued.consent.refresh_from_db()
    assert issued.consent.status == Consent.Status.REVOKED
    assert introspect(live_server, client, body["access_token"]) == {"active": False}
    refused = refresh(live_server, client, body["refresh_token"])
    assert refused.json()["error"] == "invalid_grant"
    # Unknown tokens are fine to revoke (RFC 7009 §2.2).
    unknown = requests.post(
        f"{live_server.url}/oauth/revoke", data={"token": "nope"}, auth=client.auth(), timeout=10
    )
    assert unknown.status_code == 200


def app_token(live_server, client) -> str:
    response = token_request(
        live_server, client, {"grant_type": "client_credentials", "scope": "consents"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and "patient" not in body
    return body["access_token"]


def test_app_level_consent_api(live_server, make_client, issue_code):
    client, other = make_client(), make_client()
    issued = issue_code(client)
    patient_token = exchange(live_server, client, issued).json()["access_token"]
    token = app_token(live_server, client)
    api = f"{live_server.url}/api/consents"
    listed = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert listed.status_code == 200
    [entry] = listed.json()["consents"]
    assert entry["id"] == str(issued.consent.pk) and entry["status"] == "active"
    # A patient token is not an app-level token; other apps see nothing of ours.
    assert (
        requests.get(api, headers={"Authorization": f"Bearer {patient_token}"}, timeout=10)
    ).status_code == 403
    other_token = app_token(live_server, other)
    headers_other = {"Authorization": f"Bearer {other_token}"}
    assert requests.get(api, headers=headers_other, timeout=10).json() == {"consents": []}
    revoke_url = f"{api}/{issued.consent.pk}/revoke"
    assert requests.post(revoke_url, headers=headers_other, timeout=10).status_code == 404

    revoked = requests.post(revoke_url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert introspect(live_server, client, patient_token) == {"active": False}

    # Revoking a client-credentials token ends only that token.
    requests.post(
        f"{live_server.url}/oauth/revoke", data={"token": token}, auth=client.auth(), timeout=10
    )
    refused = requests.get(api, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert refused.status_code == 401


def test_public_clients_cannot_use_client_credentials(live_server, make_client):
    client = make_client(public=True)
    response = token_request(live_server, client, {"grant_type": "client_credentials"})
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")


def test_id_token_echoes_the_nonce(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client, nonce="n-0S6_WzA2Mj")
    body = exchange(live_server, client, issued).json()
    assert keys.verify(body["id_token"])["nonce"] == "n-0S6_WzA2Mj"
    refreshed = refresh(live_server, client, body["refresh_token"]).json()
    assert "nonce" not in keys.verify(refreshed["id_token"])


def test_consent_policy_sets_how_long_the_consent_lasts(make_client, issue_code):
    from datetime import timedelta

    one_time = issue_code(make_client()).consent
    assert one_time.expires_at - one_time.granted_at == timedelta(hours=24)
    continuous = issue_code(make_client(consent_policy="continuous")).consent
    assert continuous.expires_at - continuous.granted_at == timedelta(days=365)
    payer = continuous.payer
    payer.max_authorization_days = 90
    payer.save()
    from consent.lifecycle import consent_end_for

    now = continuous.granted_at
    assert consent_end_for(continuous.app, payer, now) - now == timedelta(days=90)


def test_no_token_or_code_reaches_the_logs_even_at_debug_level(
    live_server, make_client, issue_code, caplog
):
    caplog.set_level(logging.DEBUG)
    client = make_client()
    issued = issue_code(client)
    body = exchange(live_server, client, issued).json()
    second = refresh(live_server, client, body["refresh_token"]).json()
    app_level = app_token(live_server, client)
    kinds = ("access_token", "refresh_token", "id_token")
    secrets = [issued.code, client.secret, app_level]
    secrets += [token[kind] for token in (body, second) for kind in kinds]
    assert caplog.records  # the requests were logged at all
    leaked = [s[:8] for s in secrets if s in caplog.text]
    assert not leaked


def test_id_token_sub_is_unique_across_payers_and_stable_within_one(
    live_server, make_client, issue_code
):
    """The same patient id at two payers is two people (OpenID Connect Core §2 `sub`)."""
    client = make_client()
    first, second = issue_code(client, patient="123"), issue_code(client, patient="123")
    assert first.consent.payer_id != second.consent.payer_id
    subs = [
        keys.verify(exchange(live_server, client, issued).json()["id_token"])["sub"]
        for issued in (first, second)
    ]
    assert subs[0] != subs[1]
    # Same member of the same payer, a later consent: the same `sub`.
    again = issue_code(client, patient="123")
    Consent.objects.filter(pk=again.consent.pk).update(payer=first.consent.payer)
    claims = keys.verify(exchange(live_server, client, again).json()["id_token"])
    assert claims["sub"] == subs[0]
    assert claims["fhirUser"].endswith("/Patient/123")
