"""The sandbox payers behave like a careful real payer (issue 12), over real HTTP."""

from __future__ import annotations

import re
import secrets

import pytest
import requests

from payers.models import Payer
from tests.forms import submit
from tests.payers.smart import authorize_params, login, query_of, redirect_uri_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def lakeshore(sandbox_payers) -> Payer:
    return Payer.objects.get(slug="lakeshore-health")


@pytest.fixture
def params(lakeshore, live_server) -> dict[str, str]:
    verifier = secrets.token_urlsafe(48)
    return authorize_params(
        lakeshore, verifier=verifier, redirect_uri=redirect_uri_for(live_server.url)
    )


def sign_in_page(
    payer: Payer, params: dict[str, str]
) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    page = browser.get(payer.authorize_url, params=params, timeout=10)
    assert page.status_code == 200, page.text
    return browser, page


def credentials(password: str = "payerbridge") -> dict[str, str]:  # noqa: S107
    return {"Username": "lakeshore-walter", "Password": password}


@pytest.mark.parametrize("password", ["pässword", "пароль", "\U0001f511"])
def test_non_ascii_password_is_a_wrong_password_not_a_server_error(lakeshore, params, password):
    browser, page = sign_in_page(lakeshore, params)
    wrong = submit(browser, page, credentials(password), button="Sign in")
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.text


def test_consent_form_is_single_use(lakeshore, params):
    browser, page = sign_in_page(lakeshore, params)
    consent = submit(browser, page, credentials(), button="Sign in")
    assert consent.status_code == 200
    first = submit(browser, consent, button="Allow", allow_redirects=False)
    assert "code" in query_of(first)
    again = submit(browser, consent, button="Allow", allow_redirects=False)
    assert again.status_code == 400 and "Location" not in again.headers
    # The sign-in form, once used, cannot start a second consent either.
    replayed = submit(browser, page, credentials(), button="Sign in")
    assert replayed.status_code == 400


def test_forms_are_bound_to_the_browser_that_got_them(lakeshore, params):
    victim, page = sign_in_page(lakeshore, params)
    attacker, own_page = sign_in_page(lakeshore, params)
    victim_txn = _hidden(page, "txn")
    stolen = submit(attacker, own_page, {**credentials(), "txn": victim_txn}, button="Sign in")
    assert stolen.status_code == 400
    consent = submit(victim, page, credentials(), button="Sign in")
    assert consent.status_code == 200
    consent_txn = _hidden(consent, "txn")
    other_consent = submit(attacker, own_page, credentials(), button="Sign in")
    hijack = submit(
        attacker, other_consent, {"txn": consent_txn}, button="Allow", allow_redirects=False
    )
    assert hijack.status_code == 400 and "Location" not in hijack.headers
    # The rightful browser still completes.
    assert "code" in query_of(submit(victim, consent, button="Allow", allow_redirects=False))


def _hidden(page: requests.Response, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', page.text)
    assert match, f"no hidden {name!r} on the page"
    return match.group(1)


def test_bundle_links_derive_from_the_configured_origin_not_host(
    lakeshore, live_server, sandbox_server
):
    token = login(lakeshore, "lakeshore-walter", redirect_uri_for(live_server.url))["access_token"]
    response = requests.get(
        f"{lakeshore.fhir_base_url}/ExplanationOfBenefit",
        params={"_count": "1"},
        headers={"Authorization": f"Bearer {token}", "Host": "evil.example:6666"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    links = {link["relation"]: link["url"] for link in response.json()["link"]}
    assert all("evil.example" not in url for url in links.values()), links
    assert links["self"].startswith(f"{sandbox_server.url}/sandbox/lakeshore-health/fhir/")


@pytest.fixture
def strict_sandbox(process_env, sandbox_payers):
    """A sandbox process of this test's own, with small sign-in failure limits."""
    from tests.sandbox import SandboxServer

    server = SandboxServer(
        {
            **process_env,
            "SANDBOX_SIGNIN_FAILURES_PER_USER": "3",
            "SANDBOX_SIGNIN_FAILURES_PER_ADDRESS": "5",
        }
    ).wait_ready()
    yield server
    server.stop()


def _attempt(base: str, params: dict[str, str], username: str, password: str):
    slug = "lakeshore-health"
    browser = requests.Session()
    query = {**params, "aud": f"{base}/sandbox/{slug}/fhir"}
    page = browser.get(f"{base}/sandbox/{slug}/oauth/authorize", params=query, timeout=10)
    assert page.status_code == 200, page.text
    return submit(browser, page, {"Username": username, "Password": password}, button="Sign in")


def test_failed_sign_ins_are_throttled_per_user_and_per_address(strict_sandbox, params):
    base = strict_sandbox.url
    for _ in range(3):
        assert _attempt(base, params, "lakeshore-walter", "wrong").status_code == 401
    # The user name is blocked, the right password included, for minutes only.
    blocked = _attempt(base, params, "lakeshore-walter", "payerbridge")
    assert blocked.status_code == 429 and "Too many failed sign-ins" in blocked.text
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    # Another patient still signs in from here ...
    assert _attempt(base, params, "lakeshore-ariadna", "payerbridge").status_code == 200
    # ... until the address itself has failed too often.
    for n in range(2):
        assert _attempt(base, params, f"guess-{n}", "wrong").status_code == 401
    assert _attempt(base, params, "lakeshore-ariadna", "payerbridge").status_code == 429
