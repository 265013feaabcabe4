"""The whole journey through a sandbox payer, driven by outside clients.

- the official Python SMART client `fhirclient` (standalone launch) with pages
  clicked by `tests.forms` (no browser);
- a headless Chromium (Playwright) clicking the same pages;
- after a full flow, no secret is stored in the clear anywhere in the database.
"""

from __future__ import annotations

import json
import os
import shutil
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.db import connection
from fhirclient import client as smart_client

from consent.models import Consent, PayerGrant
from tests.consent.conftest import APP_REDIRECT, query_of
from tests.consent.journey import allow_in_browser, start
from tests.forms import parse_forms, submit

SCOPE = "openid fhirUser offline_access patient/*.read"


@pytest.fixture
def sandbox(sandbox_payers):
    """The first sandbox payer that reports the patient in the token response, and a login."""
    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    by_slug = {entry["slug"]: entry for entry in json.loads(info.getvalue())}
    payers = sorted(sandbox_payers, key=lambda p: p.patient_id_source != "token")
    payer = next(p for p in payers if by_slug.get(p.slug, {}).get("patients"))
    return payer, by_slug[payer.slug]["patients"][0]


def choose_on_picker(browser: requests.Session, page: requests.Response, slug: str):
    """Submit the picker form (or button) that chooses `slug`."""
    for form in parse_forms(page):
        chooses = form.fields.get("payer") == slug or any(
            b.name == "payer" and b.value == slug for b in form.buttons
        )
        if chooses:
            data = {**form.fields, "payer": slug}
            return browser.post(form.action, data=data, headers={"Referer": page.url}, timeout=30)
    raise AssertionError(f"no picker form for {slug} at {page.url}:\n{page.text[:2000]}")


def to_payer_consent(browser: requests.Session, start: requests.Response, payer, login):
    """From our start page through the picker and the payer's sign-in to its consent page."""
    assert start.status_code == 200, start.text[:500]
    picker_link = start.text.split('class="button" href="', 1)[1].split('"', 1)[0]
    picker = browser.get(requests.compat.urljoin(start.url, picker_link), timeout=30)
    found = submit(
        browser, picker, {"Find your health plan": payer.slug.split("-")[0]}, button="Search"
    )
    sign_in = choose_on_picker(browser, found, payer.slug)
    assert sign_in.url.startswith(payer.authorize_url.split("/sandbox/")[0]), sign_in.url
    return submit(
        browser,
        sign_in,
        {"Username": login["username"], "Password": login["password"]},
        button="Sign in",
    )


def click_through(browser: requests.Session, first_page: requests.Response, payer, login) -> str:
    """From our start page to the app's redirect URI with a code; returns that URL."""
    at_payer = to_payer_consent(browser, first_page, payer, login)
    review = submit(browser, at_payer, button="Allow")  # the payer's consent page
    assert "/review" in review.url, review.text[:1000]
    browser.payer_callback_url = next(  # type: ignore[attr-defined]
        r.url for r in review.history if "/payers/callback" in r.url
    )
    granted = submit(browser, review, button="Allow")  # ours
    assert granted.status_code == 200 and "You are connected" in granted.text
    link = granted.text.split('class="button" href="', 1)[1].split('"', 1)[0]
    return link.replace("&amp;", "&")


def _fhirclient(live_server, client) -> smart_client.FHIRClient:
    """The official SMART Python client, configured as an app of ours would be."""
    return smart_client.FHIRClient(
        settings={
            "app_id": client.client_id,
            "app_secret": client.secret,
            "api_base": f"{live_server.url}/fhir",
            "redirect_uri": APP_REDIRECT,
            "scope": SCOPE,
        }
    )


def test_fhirclient_standalone_launch_end_to_end(live_server, make_client, sandbox):
    payer, login = sandbox
    client = make_client()
    smart = _fhirclient(live_server, client)
    authorize_url = smart.authorize_url  # discovered from /fhir/metadata (oauth-uris)
    assert authorize_url.startswith(f"{live_server.url}/oauth/authorize?")
    browser = requests.Session()
    back_to_app = click_through(browser, browser.get(authorize_url, timeout=30), payer, login)
    assert back_to_app.startswith(APP_REDIRECT + "?")

    # The payer's redirect to /payers/callback cannot be replayed.
    replay = browser.get(browser.payer_callback_url, allow_redirects=False, timeout=30)
    assert replay.status_code == 400

    smart.handle_callback(back_to_app)  # code → token at /oauth/token, state checked by fhirclient
    context = smart.launch_context
    assert smart.patient_id == login["patient_id"]
    consent = Consent.objects.get(pk=context["consent_id"])
    assert consent.status == Consent.Status.ACTIVE and consent.payer == payer
    assert consent.patient_id == login["patient_id"]
    assert context["consent_expires_at"] and context["id_token"]
    access_token = smart.server.auth.access_token

    def introspect() -> dict:
        return requests.post(
            f"{live_server.url}/oauth/introspect",
            data={"token": access_token},
            auth=client.auth(),
            timeout=10,
        ).json()

    assert introspect()["active"] is True
    revoked = requests.post(
        f"{live_server.url}/oauth/revoke",
        data={"token": access_token},
        auth=client.auth(),
        timeout=10,
    )
    assert revoked.status_code == 200
    assert introspect() == {"active": False}
    # Refused by the bearer check every API shares (401, not 403: the token is dead).
    api = requests.get(
        f"{live_server.url}/api/consents",
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=10,
    )
    assert api.status_code == 401
    refused = requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": smart.server.auth.refresh_token},
        auth=client.auth(),
        timeout=10,
    )
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    consent.refresh_from_db()
    assert consent.status == Consent.Status.REVOKED


def test_patient_denies_on_our_review_page(live_server, make_client, sandbox):
    payer, login = sandbox
    started = start(live_server, make_client(public=True))
    browser = started.browser
    first = browser.get(started.flow_url, timeout=30)
    at_payer = to_payer_consent(browser, first, payer, login)
    review = submit(browser, at_payer, button="Allow")
    denied = submit(browser, review, button="Deny", allow_redirects=False)
    assert denied.status_code == 302
    assert query_of(denied.headers["Location"]) == {
        "error": "access_denied",
        "state": started.params["state"],
    }
    assert Consent.objects.get().status == Consent.Status.DENIED
    # The payer's tokens, obtained before the patient said no, are not kept.
    assert not PayerGrant.objects.exists()


def test_patient_denies_at_the_payer(live_server, make_client, sandbox):
    payer, login = sandbox
    started = start(live_server, make_client(public=True))
    browser = started.browser
    first = browser.get(started.flow_url, timeout=30)
    at_payer = to_payer_consent(browser, first, payer, login)
    back = submit(browser, at_payer, button="Deny")
    assert back.status_code == 400 and "Return to " in back.text
    assert Consent.objects.get().status == Consent.Status.DENIED


def _text_columns() -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'character')"
        )
        return cursor.fetchall()


def test_no_secret_is_stored_in_the_clear(live_server, make_client, sandbox):
    payer, login = sandbox
    client = make_client()
    smart = _fhirclient(live_server, client)
    browser = requests.Session()
    url = click_through(browser, browser.get(smart.authorize_url, timeout=30), payer, login)
    smart.handle_callback(url)
    grant = PayerGrant.objects.get(consent_id=smart.launch_context["consent_id"])
    secrets = {
        "client secret": client.secret,
        "access token": smart.server.auth.access_token,
        "refresh token": smart.server.auth.refresh_token,
        "payer access token": grant.access_token,
        "webhook secret": client.app.webhook_secret,
    }
    if grant.refresh_token:
        secrets["payer refresh token"] = grant.refresh_token
    assert all(secrets.values()), secrets.keys()
    columns = _text_columns()
    assert len(columns) > 20
    found = []
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table, column in columns:
            for name, value in secrets.items():
                cursor.execute(
                    f"SELECT count(*) FROM {quote(table)} "  # noqa: S608
                    f"WHERE {quote(column)}::text LIKE %s",
                    [f"%{value}%"],
                )
                if cursor.fetchone()[0]:
                    found.append(f"{name} in {table}.{column}")
    assert found == []


@pytest.mark.browser
def test_headless_chromium_clicks_through_the_journey(live_server, make_client, sandbox):
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    from tests.consent.conftest import authorize_params, pkce_pair

    payer, login = sandbox
    client = make_client()
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope=SCOPE)
    url = requests.Request("GET", f"{live_server.url}/oauth/authorize", params=params).prepare()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        # JavaScript off: every patient page must work as plain HTML forms.
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(url.url)
        assert client.app.name in page.content()
        allow_in_browser(page, payer.slug, login)
        link = page.get_by_role("link", name=f"Continue to {client.app.name}")
        back_to_app = link.get_attribute("href")
        receipt = page.get_by_role("link", name="Your receipt").get_attribute("href")
        page.goto(receipt)
        assert payer.name in page.content()
        browser.close()
    query = query_of(back_to_app)
    assert query["state"] == params["state"]
    token = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=client.auth(),
        timeout=10,
    ).json()
    assert token["patient"] == login["patient_id"] and token["consent_id"]


@pytest.mark.parametrize(
    "slug",
    [
        "bluebird-medicare",
        "lakeshore-health",
        "prairie-medicaid",
        "summit-mutual",
        "harbor-exchange",
    ],
)
def test_patient_is_found_at_every_sandbox_payer(live_server, make_client, sandbox_payers, slug):
    """Token `patient`, id_token `fhirUser` and Patient search each yield the patient id."""
    from payers.models import Payer

    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    [entry] = [e for e in json.loads(info.getvalue()) if e["slug"] == slug]
    login = entry["patients"][0]
    payer = Payer.objects.get(slug=slug)
    started = start(live_server, make_client(public=True))
    url = click_through(started.browser, started.browser.get(started.flow_url), payer, login)
    assert query_of(url)["state"] == started.params["state"]
    consent = Consent.objects.get()
    assert consent.patient_id == login["patient_id"], payer.patient_id_source
    assert PayerGrant.objects.get(consent=consent).access_token


def test_payer_token_is_refreshed_when_it_lapses(live_server, make_client, sandbox_payers):
    """Lakeshore rotates refresh tokens; the consent keeps a working payer token."""
    from datetime import timedelta

    from django.utils import timezone

    from consent.payer_tokens import access_token_for
    from payers.http import payer_session
    from payers.models import Payer

    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    [entry] = [e for e in json.loads(info.getvalue()) if e["slug"] == "lakeshore-health"]
    payer = Payer.objects.get(slug="lakeshore-health")
    started = start(live_server, make_client(public=True))
    click_through(
        started.browser, started.browser.get(started.flow_url), payer, entry["patients"][0]
    )
    consent = Consent.objects.get()
    grant = PayerGrant.objects.get(consent=consent)
    assert grant.refresh_token, "lakeshore grants offline_access"
    assert access_token_for(consent) == grant.access_token  # still fresh: unchanged

    PayerGrant.objects.filter(pk=grant.pk).update(expires_at=timezone.now() - timedelta(1))
    fresh = access_token_for(consent)
    assert fresh != grant.access_token
    stored = PayerGrant.objects.get(pk=grant.pk)
    assert stored.refresh_token != grant.refresh_token  # rotated
    patient = payer_session(payer).get(
        f"{payer.fhir_base_url}/Patient/{consent.patient_id}",
        headers={"Authorization": f"Bearer {fresh}", "Accept": "application/fhir+json"},
    )
    assert patient.status_code == 200

    # The payer refuses a spent refresh token: the consent needs the patient again.
    PayerGrant.objects.filter(pk=grant.pk).update(
        expires_at=timezone.now() - timedelta(1), refresh_token=grant.refresh_token
    )
    from consent.payer_tokens import PayerAuthorizationLapsed

    with pytest.raises(PayerAuthorizationLapsed):
        access_token_for(consent)
    consent.refresh_from_db()
    assert consent.status == Consent.Status.REAUTH_REQUIRED
