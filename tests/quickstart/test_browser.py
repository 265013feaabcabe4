"""The quickstart app, driven in headless Chromium (JavaScript on and off), end to end.

Quickstart (own process, own origin) → gateway consent flow → sandbox payer
sign-in → back with a code → sync by a real worker → summary whose claims and
chart match what the FHIR API reports → signed `sync.completed` webhook →
Disconnect (RFC 7009) → the API answers 401.

Set QUICKSTART_SCREENSHOTS=<dir> to keep a screenshot of every page.
"""

from __future__ import annotations

import json
import os
import secrets
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.utils import timezone

from consent.management.commands.seed_demo import QUICKSTART_CLIENT_ID
from consent.models import Consent, IssuedToken
from consent.secrets import digest
from examples.quickstart.chart import MAX_MONTHS, monthly_totals
from examples.quickstart.claims import claim_row
from tests.consent.journey import allow_in_browser
from tests.services import wait_until

SYNC_TIMEOUT_MS = 120_000
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def sandbox_login(slug: str, index: int) -> dict:
    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    [entry] = [e for e in json.loads(info.getvalue()) if e["slug"] == slug]
    return entry["patients"][index]


def api_eobs(gateway_url: str, consent: Consent) -> tuple[list[dict], str]:
    """Every EOB the FHIR API serves for the consent, read with a token of our own."""
    token = secrets.token_urlsafe(32)
    IssuedToken.objects.create(
        access_token_hash=digest(token),
        app=consent.app,
        consent=consent,
        grant_type="authorization_code",
        scope=consent.scope,
        access_expires_at=timezone.now() + timedelta(minutes=10),
    )
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    url = f"{gateway_url}/fhir/ExplanationOfBenefit"
    params: dict | None = {"patient": consent.patient_id}
    found: list[dict] = []
    while url:
        response = requests.get(url, params=params, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:500]
        bundle, params = response.json(), None
        for entry in bundle.get("entry", []):
            if entry.get("search", {}).get("mode", "match") == "match":
                found.append(entry["resource"])
        links = {link["relation"]: link["url"] for link in bundle.get("link", [])}
        url = links.get("next")
    return found, token


class Screens:
    def __init__(self, label: str) -> None:
        folder = os.environ.get("QUICKSTART_SCREENSHOTS")
        self.folder = Path(folder) if folder else None
        self.label = label

    def take(self, page, name: str) -> None:
        if self.folder:
            self.folder.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=self.folder / f"{self.label}-{name}.png", full_page=True)


def reload_until(page, selector: str, attempts: int = 60) -> None:
    for _ in range(attempts):
        if page.locator(selector).count():
            return
        page.wait_for_timeout(1000)
        page.reload()
    raise AssertionError(f"{selector} never appeared:\n{page.content()[:3000]}")


@pytest.mark.browser
@pytest.mark.parametrize(
    ("javascript", "slug", "patient"),
    [(False, "bluebird-medicare", 0), (True, "lakeshore-health", 1)],
    ids=["no-js-desktop-bluebird", "js-phone-lakeshore"],
)
def test_quickstart_connect_sync_summary_disconnect(
    live_server, sandbox_payers, celery_worker, quickstart, javascript, slug, patient, monkeypatch
):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made
    # between page steps are still plain synchronous ones.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    login = sandbox_login(slug, patient)
    screens = Screens("js" if javascript else "nojs")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(
            java_script_enabled=javascript, **(PHONE if javascript else {})
        )
        page = context.new_page()
        page.set_default_timeout(30_000)

        page.goto(quickstart.url)
        screens.take(page, "1-connect")
        page.get_by_role("link", name="Connect your health plan").click()
        assert page.url.startswith(f"{live_server.url}/"), page.url  # the gateway's own pages
        allow_in_browser(page, slug, login)
        page.get_by_role("link", name="Continue to Payerbridge Quickstart").click()

        # Back at the quickstart: the syncing page (429 transient) until the data is there.
        page.wait_for_url(f"{quickstart.url}/summary*")
        if "Syncing" in page.title():
            assert "429" in page.content()
            screens.take(page, "2-syncing")
        try:
            page.locator("#claims").wait_for(timeout=SYNC_TIMEOUT_MS)
        except PlaywrightTimeout:
            raise AssertionError(f"no summary:\n{page.locator('main').inner_text()}") from None

        consent = Consent.objects.get(app__client_id=QUICKSTART_CLIENT_ID)
        assert consent.patient_id == login["patient_id"]
        eobs, our_token = api_eobs(live_server.url, consent)
        assert eobs, "the sandbox patient has claims"
        assert int(page.locator("#claim-count").inner_text()) == len(eobs)
        assert page.locator("tr.claim").count() == min(len(eobs), 10)
        months = monthly_totals([claim_row(e) for e in eobs])
        assert page.locator("svg.chart rect.bar").count() == 2 * min(len(months), MAX_MONTHS)
        screens.take(page, "3-summary")
        if len(eobs) > 10:
            page.get_by_role("link", name="Next page →").click()
            assert page.locator("tr.claim").count() == min(len(eobs) - 10, 10)
            assert page.get_by_text("Page 2 of").is_visible()

        json_link = page.locator("tr.claim a").first.get_attribute("href")
        raw = context.new_page().goto(f"{quickstart.url}{json_link}")
        assert raw.status == 200 and raw.json()["resourceType"] == "ExplanationOfBenefit"

        completed = '#webhooks .event[data-type="sync.completed"]'
        reload_until(page, completed)
        assert "signature valid" in page.locator(completed).first.inner_text()

        page.get_by_role("button", name="Disconnect").click()
        page.get_by_text("Disconnected: your data is gone").wait_for()
        assert "401" in page.locator("#api-answer").inner_text()
        screens.take(page, "4-disconnected")
        browser.close()

    consent.refresh_from_db()
    assert consent.status == Consent.Status.REVOKED
    gone = requests.get(
        f"{live_server.url}/fhir/ExplanationOfBenefit",
        params={"patient": consent.patient_id},
        headers={"Authorization": f"Bearer {our_token}"},
        timeout=30,
    )
    assert gone.status_code == 401  # every token of the consent, not only the quickstart's
    wait_until(lambda: purged(consent), 60, 0.5, "verify_purged to find nothing left")


def purged(consent: Consent) -> bool:
    try:
        call_command("verify_purged", str(consent.pk), stdout=StringIO())
    except SystemExit as exit_:
        return exit_.code == 0
    return True
