"""Who may do what with whose tokens and consents, and what races cannot break.

A cast in every access test: the owner app, an outsider app, and the owner's
patient token where an app-level token is expected.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from consent.models import AuthorizationFlow, Consent, IssuedToken
from tests.consent.journey import start
from tests.consent.test_token import app_token, exchange, introspect, refresh, token_request


@pytest.fixture
def cast(live_server, make_client, issue_code):
    """Owner (confidential) with an active consent and tokens; an outsider app."""
    owner, outsider = make_client(), make_client()
    issued = issue_code(owner)
    patient = exchange(live_server, owner, issued).json()
    return {
        "owner": owner,
        "outsider": outsider,
        "consent": issued.consent,
        "patient": patient,
        "owner_app_token": app_token(live_server, owner),
        "outsider_app_token": app_token(live_server, outsider),
    }


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("who", "list_status", "sees_it", "revoke_status"),
    [
        ("owner_app_token", 200, True, 200),
        ("outsider_app_token", 200, False, 404),
        ("patient_access_token", 403, False, 403),
        ("nobody", 401, False, 401),
    ],
)
def test_consent_api_cast(live_server, cast, who, list_status, sees_it, revoke_status):
    token = {
        "owner_app_token": cast["owner_app_token"],
        "outsider_app_token": cast["outsider_app_token"],
        "patient_access_token": cast["patient"]["access_token"],
        "nobody": "",
    }[who]
    headers = bearer(token) if token else {}
    api = f"{live_server.url}/api/consents"
    listed = requests.get(api, headers=headers, timeout=10)
    assert listed.status_code == list_status
    ids = [c["id"] for c in listed.json().get("consents", [])] if list_status == 200 else []
    assert (str(cast["consent"].pk) in ids) is sees_it
    revoked = requests.post(f"{api}/{cast['consent'].pk}/revoke", headers=headers, timeout=10)
    assert revoked.status_code == revoke_status
    cast["consent"].refresh_from_db()
    expected = Consent.Status.REVOKED if revoke_status == 200 else Consent.Status.ACTIVE
    assert cast["consent"].status == expected


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_another_apps_token_can_be_neither_introspected_nor_revoked(live_server, cast, kind):
    token = cast["patient"][kind]
    assert introspect(live_server, cast["outsider"], token) == {"active": False}
    response = requests.post(
        f"{live_server.url}/oauth/revoke",
        data={"token": token},
        auth=cast["outsider"].auth(),
        timeout=10,
    )
    assert response.status_code in (200, 400)
    cast["consent"].refresh_from_db()
    assert cast["consent"].status == Consent.Status.ACTIVE
    assert introspect(live_server, cast["owner"], token)["active"] is True


def test_another_apps_client_credentials_token_is_not_revocable(live_server, cast):
    requests.post(
        f"{live_server.url}/oauth/revoke",
        data={"token": cast["owner_app_token"]},
        auth=cast["outsider"].auth(),
        timeout=10,
    )
    api = f"{live_server.url}/api/consents"
    assert requests.get(api, headers=bearer(cast["owner_app_token"]), timeout=10).ok


def test_revoking_a_client_credentials_token_ends_only_that_token(live_server, cast):
    owner = cast["owner"]
    other_app_token = app_token(live_server, owner)
    response = requests.post(
        f"{live_server.url}/oauth/revoke",
        data={"token": cast["owner_app_token"]},
        auth=owner.auth(),
        timeout=10,
    )
    assert response.status_code == 200
    assert introspect(live_server, owner, cast["owner_app_token"]) == {"active": False}
    assert introspect(live_server, owner, other_app_token)["active"] is True
    assert introspect(live_server, owner, cast["patient"]["access_token"])["active"] is True
    cast["consent"].refresh_from_db()
    assert cast["consent"].status == Consent.Status.ACTIVE


def test_tokens_of_an_expired_consent_fail_everywhere(live_server, cast):
    """Past its end the consent's tokens fail even before the expiry job marks it."""
    owner, patient = cast["owner"], cast["patient"]
    Consent.objects.filter(pk=cast["consent"].pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert introspect(live_server, owner, patient["access_token"]) == {"active": False}
    assert introspect(live_server, owner, patient["refresh_token"]) == {"active": False}
    assert refresh(live_server, owner, patient["refresh_token"]).json()["error"] == "invalid_grant"
    from consent.bearer import authenticate

    assert authenticate(patient["access_token"]) is None


def test_confidential_client_must_authenticate_at_the_token_endpoint(
    live_server, make_client, issue_code
):
    client = make_client()
    issued = issue_code(client)
    data = {
        "grant_type": "authorization_code",
        "code": issued.code,
        "redirect_uri": issued.redirect_uri,
        "code_verifier": issued.verifier,
        "client_id": client.client_id,  # no secret: as if it were public
    }
    response = requests.post(f"{live_server.url}/oauth/token", data=data, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "invalid_client"
    assert not IssuedToken.objects.exists()


def test_a_code_exchanged_concurrently_yields_one_token(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client)
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(
            pool.map(lambda _: exchange(live_server, client, issued).status_code, range(6))
        )
    assert sorted(statuses) == [200] + [400] * 5
    assert IssuedToken.objects.filter(consent=issued.consent).count() == 1


def test_a_refresh_token_spent_concurrently_ends_the_consent(live_server, cast):
    owner, patient = cast["owner"], cast["patient"]
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(
            pool.map(lambda _: refresh(live_server, owner, patient["refresh_token"]), range(4))
        )
    assert sum(r.status_code == 200 for r in responses) <= 1
    cast["consent"].refresh_from_db()
    assert cast["consent"].status == Consent.Status.REVOKED
    # Whatever the winner got is dead with the consent.
    for response in responses:
        if response.status_code == 200:
            new = response.json()
            assert introspect(live_server, owner, new["access_token"]) == {"active": False}


def test_token_scope_is_the_granted_scope(live_server, make_client, issue_code):
    client = make_client()
    issued = issue_code(client, scope="launch/patient offline_access patient/*.read patient/*.read")
    body = exchange(live_server, client, issued).json()
    assert body["scope"] == "launch/patient offline_access patient/*.read"
    # What the patient saw and the consent records is that same scope.
    started = start(live_server, client, scope="patient/*.read  launch/patient patient/*.read")
    assert AuthorizationFlow.objects.get(pk=started.flow_id).request_params["scope"] == (
        "patient/*.read launch/patient"
    )
    assert started.browser.get(started.flow_url, timeout=10).status_code == 200
    narrowed = token_request(
        live_server,
        client,
        {
            "grant_type": "refresh_token",
            "refresh_token": body["refresh_token"],
            "scope": "offline_access  patient/*.read patient/*.read",
        },
    ).json()
    assert narrowed["scope"] == "offline_access patient/*.read"
    assert introspect(live_server, client, narrowed["access_token"])["scope"] == narrowed["scope"]
    wider = token_request(
        live_server,
        client,
        {
            "grant_type": "refresh_token",
            "refresh_token": narrowed["refresh_token"],
            "scope": "offline_access patient/*.read openid",
        },
    )
    assert wider.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("path", ["cancel", "review"])
def test_patient_forms_refuse_posts_without_csrf_token(live_server, make_client, db_payer, path):
    started = start(live_server, make_client())
    payer = db_payer()
    consent = Consent.objects.create(app=AuthorizationFlow.objects.get().app, payer=payer)
    AuthorizationFlow.objects.update(
        step=AuthorizationFlow.Step.REVIEW, payer=payer, consent=consent
    )
    response = started.browser.post(
        f"{started.flow_url}{path}", data={"decision": "allow"}, allow_redirects=False, timeout=10
    )
    assert response.status_code == 403
    assert AuthorizationFlow.objects.get().step == AuthorizationFlow.Step.REVIEW
    consent.refresh_from_db()
    assert consent.status == Consent.Status.PENDING


def test_the_page_carrying_our_code_and_the_receipt_are_never_cached(
    live_server, make_client, db_payer
):
    from tests.forms import submit

    started = start(live_server, make_client())
    payer = db_payer()
    consent = Consent.objects.create(
        app=AuthorizationFlow.objects.get().app, payer=payer, patient_id="pat-1"
    )
    AuthorizationFlow.objects.update(
        step=AuthorizationFlow.Step.REVIEW, payer=payer, consent=consent
    )
    review = started.browser.get(f"{started.flow_url}review", timeout=10)
    assert "no-store" in review.headers["Cache-Control"]
    granted = submit(started.browser, review, button="Allow")
    assert granted.status_code == 200 and "code=" in granted.text
    assert "no-store" in granted.headers["Cache-Control"]
    receipt_link = granted.text.split('">Your receipt</a>')[0].rsplit('href="', 1)[1]
    receipt_link = receipt_link.replace("&amp;", "&")
    receipt = requests.get(receipt_link, timeout=10)
    assert receipt.status_code == 200 and "no-store" in receipt.headers["Cache-Control"]


def test_an_expired_code_is_invalid_grant(live_server, make_client, issue_code):
    from consent.models import AuthorizationCode
    from consent.oauth.grants import CODE_LIFETIME

    client = make_client()
    issued = issue_code(client)
    code = AuthorizationCode.objects.get(consent=issued.consent)
    assert code.expires_at - code.created_at <= CODE_LIFETIME <= timedelta(minutes=10)
    AuthorizationCode.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    response = exchange(live_server, client, issued)
    assert response.status_code == 400 and response.json()["error"] == "invalid_grant"
    assert not IssuedToken.objects.exists()
