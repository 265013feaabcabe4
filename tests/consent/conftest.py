"""Fixtures for the consent tests: apps, PKCE pairs, and codes issued by the real flow."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from consent import flow as flows
from consent.apps_registry import register_app
from consent.models import App, AuthorizationFlow, Consent
from consent.secrets import digest
from payers.models import Payer

APP_REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="session", autouse=True)
def _public_base_url(live_server):
    """The gateway's origin is the live server (aud, issuer, callback URL derive from it)."""
    previous = settings.PUBLIC_BASE_URL
    settings.PUBLIC_BASE_URL = live_server.url
    yield live_server.url
    settings.PUBLIC_BASE_URL = previous


@dataclass
class Client:
    app: App
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.app.client_id

    def auth(self) -> tuple[str, str] | None:
        return (self.app.client_id, self.secret) if self.secret else None


@pytest.fixture
def make_client(transactional_db) -> Callable[..., Client]:
    def make(public: bool = False, mode: str = "test", redirect_uris=None, **kw) -> Client:
        registered = register_app(
            f"App {secrets.token_hex(3)}",
            redirect_uris or [APP_REDIRECT],
            mode=mode,
            public=public,
            **kw,
        )
        return Client(registered.app, registered.client_secret)

    return make


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.decode().rstrip("=")


def authorize_params(client: Client, challenge: str, **overrides) -> dict:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.app.redirect_uris[0],
        "scope": "launch/patient openid fhirUser offline_access patient/*.read",
        "state": secrets.token_urlsafe(12),
        "aud": f"{settings.PUBLIC_BASE_URL}/fhir",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.fixture
def db_payer(transactional_db) -> Callable[..., Payer]:
    """A payer row; the code-issuing fixture never calls it over HTTP."""

    def make(sandbox: bool = True) -> Payer:
        slug = f"p-{secrets.token_hex(4)}"
        return Payer.objects.create(
            slug=slug,
            name=f"Plan {slug}",
            fhir_base_url=f"http://localhost:9/{slug}/fhir",
            status="active",
            is_sandbox=sandbox,
        )

    return make


@dataclass
class IssuedCode:
    code: str
    verifier: str
    consent: Consent
    redirect_uri: str


@pytest.fixture
def issue_code(db_payer) -> Callable[..., IssuedCode]:
    """A code issued by the real decision step (flow at review, patient allows).

    Stands in for the payer sign-in so token-endpoint tests need no payer; the
    full journey through a sandbox payer is tested in test_journey.py.
    """

    def issue(
        client: Client, scope: str | None = None, patient: str = "pat-1", **extra: str
    ) -> IssuedCode:
        verifier, challenge = pkce_pair()
        params = authorize_params(client, challenge, **extra)
        if scope:
            params["scope"] = scope
        payer = db_payer()
        consent = Consent.objects.create(
            app=client.app, payer=payer, scope=params["scope"], patient_id=patient
        )
        flow = AuthorizationFlow.objects.create(
            app=client.app,
            request_params=params,
            session_binding=digest("x"),
            payer=payer,
            consent=consent,
            step=AuthorizationFlow.Step.REVIEW,
        )
        decision = flows.decide(flow, allow=True)
        query = query_of(decision.redirect_to)
        assert query["state"] == params["state"]
        consent.refresh_from_db()
        return IssuedCode(query["code"], verifier, consent, params["redirect_uri"])

    return issue
