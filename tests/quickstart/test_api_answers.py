"""The quickstart against a scripted stand-in for Payerbridge: PKCE on the wire, and
each documented API answer (DESIGN "States") shown as it is.

The end-to-end browser test covers the real gateway; this one covers the answers a
healthy sandbox run rarely produces (503, 502, partial data, a foreign next link).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from examples.quickstart.app import DEV_WEBHOOK_SECRET, Config, create_app
from tests.payers.misbehaving import MisbehavingServer, Reply


def outcome(code: str, text: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


def bundle(*resources: dict, next_url: str | None = None, extra: tuple = ()) -> dict:
    entries = [{"resource": r, "search": {"mode": "match"}} for r in resources] + list(extra)
    links = [{"relation": "next", "url": next_url}] if next_url else []
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "link": links,
        "entry": entries,
    }


EOB = {
    "resourceType": "ExplanationOfBenefit",
    "id": "e1",
    "billablePeriod": {"start": "2024-03-02"},
    "payment": {"amount": {"value": 12.5}},
}


@pytest.fixture
def payerbridge():
    server = MisbehavingServer().start()
    server.script(
        "/fhir/.well-known/smart-configuration",
        Reply(
            200,
            {
                "authorization_endpoint": f"{server.url}/oauth/authorize",
                "token_endpoint": f"{server.url}/oauth/token",
                "revocation_endpoint": f"{server.url}/oauth/revoke",
                "code_challenge_methods_supported": ["S256"],
            },
        ),
    )
    server.script(
        "/oauth/token",
        Reply(
            200,
            {
                "access_token": "at-1",
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "launch/patient patient/*.read",
                "patient": "p1",
                "consent_id": "c1",
            },
        ),
    )
    server.script("/oauth/revoke", Reply(200, b""))
    yield server
    server.stop()


@pytest.fixture
def connected(payerbridge):
    """A browser (Flask test client) that went through connect and callback."""
    app = create_app(Config("http://localhost:8002", payerbridge.url, "qs", DEV_WEBHOOK_SECRET))
    browser = app.test_client()
    authorize = urlsplit(browser.get("/connect").headers["Location"])
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert f"{authorize.scheme}://{authorize.netloc}{authorize.path}" == (
        f"{payerbridge.url}/oauth/authorize"
    )
    assert query["code_challenge_method"] == "S256" and query["aud"] == f"{payerbridge.url}/fhir"
    assert query["redirect_uri"] == "http://localhost:8002/callback" and query["client_id"] == "qs"
    back = browser.get(f"/callback?code=the-code&state={query['state']}")
    assert back.status_code == 302 and back.headers["Location"].endswith("/summary")

    [token_request] = payerbridge.hits("/oauth/token")
    form = {k: v[0] for k, v in parse_qs(token_request.body.decode()).items()}
    assert form["grant_type"] == "authorization_code" and form["code"] == "the-code"
    assert form["client_id"] == "qs" and "client_secret" not in form  # a public client
    digest = hashlib.sha256(form["code_verifier"].encode()).digest()
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == query["code_challenge"]
    return browser


def test_first_sync_running_is_shown_as_the_api_says(connected, payerbridge):
    payerbridge.script(
        "/fhir/Patient/p1", Reply(429, outcome("transient", "still fetching"), {"Retry-After": "3"})
    )
    page = connected.get("/summary").get_data(as_text=True)
    assert "Syncing your records" in page and '<meta http-equiv="refresh" content="3">' in page
    assert "429 Too Many Requests" in page and "transient" in page and "still fetching" in page
    assert payerbridge.hits("/fhir/Patient/p1")[0].headers["Authorization"] == "Bearer at-1"


def test_failed_sync_retrying_failed_for_good_and_ended_consent(connected, payerbridge):
    payerbridge.script(
        "/fhir/Patient/p1", Reply(503, outcome("transient", "payer down"), {"Retry-After": "60"})
    )
    page = connected.get("/summary").get_data(as_text=True)
    assert "will retry" in page and "503" in page and 'content="10"' in page  # capped

    payerbridge.script("/fhir/Patient/p1", Reply(502, outcome("exception", "payer refused")))
    failed = connected.get("/summary")
    assert failed.status_code == 502 and "payer refused" in failed.get_data(as_text=True)

    payerbridge.script("/fhir/Patient/p1", Reply(401, outcome("login", "token revoked")))
    gone = connected.get("/summary").get_data(as_text=True)
    assert "Access has ended" in gone and "401" in gone


def test_summary_follows_next_links_and_shows_partial_data(connected, payerbridge):
    base = f"{payerbridge.url}/fhir"
    payerbridge.script("/fhir/Patient/p1", Reply(200, {"resourceType": "Patient", "id": "p1"}))
    missing = {
        "resource": outcome("incomplete", "Coverage could not be fetched"),
        "search": {"mode": "outcome"},
    }
    payerbridge.script("/fhir/Coverage", Reply(200, bundle(extra=(missing,))))
    payerbridge.script(
        "/fhir/ExplanationOfBenefit", Reply(200, bundle(EOB, next_url=f"{base}/page-2"))
    )
    payerbridge.script("/fhir/page-2", Reply(200, bundle({**EOB, "id": "e2"})))
    page = connected.get("/summary").get_data(as_text=True)
    assert '<strong id="claim-count">2</strong>' in page and "$12.50" in page
    assert "Partial data: Coverage could not be fetched" in page
    assert payerbridge.hits("/fhir/page-2")[0].headers["Authorization"] == "Bearer at-1"


def test_a_next_link_to_another_origin_is_not_followed(connected, payerbridge):
    payerbridge.script("/fhir/Patient/p1", Reply(200, {"resourceType": "Patient", "id": "p1"}))
    payerbridge.script(
        "/fhir/Coverage", Reply(200, bundle(next_url="http://evil.example/fhir/steal"))
    )
    page = connected.get("/summary")
    assert page.status_code == 502 and "not followed" in page.get_data(as_text=True)


def test_disconnect_revokes_the_token_then_shows_the_401(connected, payerbridge):
    payerbridge.script("/fhir/Patient/p1", Reply(401, outcome("login", "unknown token")))
    after = connected.post("/disconnect", follow_redirects=True).get_data(as_text=True)
    [revoke] = payerbridge.hits("/oauth/revoke")
    form = {k: v[0] for k, v in parse_qs(revoke.body.decode()).items()}
    assert form == {"token": "at-1", "token_type_hint": "access_token", "client_id": "qs"}
    assert "Disconnected: your data is gone" in after and "answered <strong>200</strong>" in after
    connected.post("/disconnect")
    assert len(payerbridge.hits("/oauth/revoke")) == 1  # once


def test_payerbridge_unreachable_or_refusing_revocation(connected, payerbridge):
    payerbridge.script("/oauth/revoke", Reply(503, {"error": "temporarily_unavailable"}))
    refused = connected.post("/disconnect")
    assert refused.status_code == 502 and "answered 503" in refused.get_data(as_text=True)
    assert "Disconnect</button>" in refused.get_data(as_text=True)  # still connected

    payerbridge.stop()
    down = connected.get("/summary")
    assert down.status_code == 502 and "unreachable" in down.get_data(as_text=True)
    assert connected.post("/disconnect").status_code == 502
