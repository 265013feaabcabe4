"""The OAuth part: SMART standalone launch as a public client (PKCE S256, state, aud).

Copy this file into your own app. It uses authlib's OAuth2 client; the
endpoints come from the server's SMART discovery document, never hard-coded.

1. `discover(fhir_base)` reads `{fhir_base}/.well-known/smart-configuration`.
2. `authorization_url(...)` makes the URL to send the patient to, with a fresh
   `state` and PKCE `code_verifier` you keep server-side until the callback.
3. `exchange_code(...)` checks `state`, sends the code with the verifier and
   returns the token response (`access_token`, `patient`, `consent_id`, ...).
4. `revoke(...)` ends the consent (RFC 7009): Payerbridge then purges the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

# Read access to everything, the patient in context, and an id_token for the user.
SCOPE = "launch/patient openid fhirUser patient/*.read"
TIMEOUT = 15


@dataclass(frozen=True)
class Endpoints:
    fhir_base: str
    authorize: str
    token: str
    revoke: str


@dataclass(frozen=True)
class PendingLaunch:
    """What the app keeps between sending the patient off and the callback."""

    url: str
    state: str
    code_verifier: str


def discover(fhir_base: str) -> Endpoints:
    """SMART App Launch discovery (`.well-known/smart-configuration`)."""
    response = requests.get(f"{fhir_base}/.well-known/smart-configuration", timeout=TIMEOUT)
    response.raise_for_status()
    config = response.json()
    if "S256" not in config.get("code_challenge_methods_supported", []):
        raise RuntimeError("the server does not offer PKCE S256")
    return Endpoints(
        fhir_base=fhir_base,
        authorize=config["authorization_endpoint"],
        token=config["token_endpoint"],
        revoke=config["revocation_endpoint"],
    )


def _client(client_id: str, redirect_uri: str | None = None, **kwargs) -> OAuth2Session:
    # A public client: no secret, `client_id` in the body, PKCE instead.
    return OAuth2Session(
        client_id,
        redirect_uri=redirect_uri,
        scope=SCOPE,
        token_endpoint_auth_method="none",  # noqa: S106 - a method name
        code_challenge_method="S256",
        **kwargs,
    )


def authorization_url(endpoints: Endpoints, client_id: str, redirect_uri: str) -> PendingLaunch:
    code_verifier = generate_token(64)
    url, state = _client(client_id, redirect_uri).create_authorization_url(
        endpoints.authorize,
        code_verifier=code_verifier,
        aud=endpoints.fhir_base,  # SMART: the FHIR server the token is for
    )
    return PendingLaunch(url=url, state=state, code_verifier=code_verifier)


def exchange_code(
    endpoints: Endpoints, client_id: str, redirect_uri: str, pending: PendingLaunch, callback: str
) -> dict:
    """Code → token. Raises authlib's `MismatchingStateException` on a wrong `state`,
    `OAuthError` when the server refuses."""
    client = _client(client_id, redirect_uri, state=pending.state)
    return dict(
        client.fetch_token(
            endpoints.token,
            authorization_response=callback,
            code_verifier=pending.code_verifier,
            timeout=TIMEOUT,
        )
    )


def revoke(endpoints: Endpoints, client_id: str, token: dict) -> int:
    """RFC 7009: revoking any token of a Payerbridge consent ends the consent."""
    response = _client(client_id).revoke_token(
        endpoints.revoke,
        token=token["access_token"],
        token_type_hint="access_token",  # noqa: S106 - a hint name
        timeout=TIMEOUT,
    )
    return response.status_code


def api_session(client_id: str, token: dict) -> OAuth2Session:
    """A requests session that sends `Authorization: Bearer <access_token>`."""
    return _client(client_id, token=token)
