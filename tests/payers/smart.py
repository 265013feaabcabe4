"""A tiny SMART client for tests: authorize, sign in, consent, exchange — over real HTTP."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit

import requests

from payers.models import Payer
from payers.sandbox.oauth import s256
from payers.sandbox.seed import callback_url
from tests.forms import submit

DEFAULT_SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"


def redirect_uri_for(gateway_url: str) -> str:
    return callback_url(gateway_url)


def authorize_params(
    payer: Payer,
    *,
    verifier: str,
    redirect_uri: str,
    scope: str = DEFAULT_SCOPE,
    method: str = "S256",
    state: str = "state-123",
) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": payer.client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "aud": payer.fhir_base_url,
        "code_challenge": s256(verifier) if method == "S256" else verifier,
        "code_challenge_method": method,
    }


def sign_in_and_decide(
    params: dict[str, str],
    payer: Payer,
    username: str,
    password: str = "payerbridge",  # noqa: S107
    decision: str = "Allow",
) -> requests.Response:
    """Walk the sign-in and consent pages; return the final redirect (not followed)."""
    browser = requests.Session()
    page = browser.get(payer.authorize_url, params=params, timeout=30)
    assert page.status_code == 200, page.text
    consent = submit(browser, page, {"Username": username, "Password": password}, button="Sign in")
    assert consent.status_code == 200, consent.text
    return submit(browser, consent, button=decision, allow_redirects=False)


def query_of(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def token_request(payer: Payer, data: dict[str, str]) -> requests.Response:
    return requests.post(
        payer.token_url, data=data, auth=(payer.client_id, payer.client_secret), timeout=30
    )


def exchange(payer: Payer, code: str, verifier: str, redirect_uri: str) -> requests.Response:
    return token_request(
        payer,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": redirect_uri,
        },
    )


def login(payer: Payer, username: str, redirect_uri: str, scope: str = DEFAULT_SCOPE) -> dict:
    """The whole standalone launch; returns the token response."""
    verifier = secrets.token_urlsafe(48)
    params = authorize_params(payer, verifier=verifier, redirect_uri=redirect_uri, scope=scope)
    code = query_of(sign_in_and_decide(params, payer, username))["code"]
    response = exchange(payer, code, verifier, redirect_uri)
    assert response.status_code == 200, response.text
    return response.json()
