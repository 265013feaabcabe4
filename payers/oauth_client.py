"""The gateway as a SMART client of a payer (authorization code + PKCE S256, refresh).

authlib's OAuth2Client runs on top of `payers.http.payer_session(payer)`, so
every call to a payer goes through the one outbound chokepoint (timeouts,
retries, rate limits, Authorization only to the payer's own origin).
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client.oauth2_session import OAuth2Auth, OAuth2ClientAuth
from authlib.oauth2.client import OAuth2Client

from payers.client_auth import ClientKeyMissing, authlib_client_auth
from payers.http import PayerHTTPError, payer_session


class PayerOAuthError(Exception):
    """The payer refused or failed; `reason` is safe to show and log (no secrets)."""

    def __init__(self, reason: str, *, error: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class _RequestsOAuth2Client(OAuth2Client):
    client_auth_class = OAuth2ClientAuth
    token_auth_class = OAuth2Auth
    oauth_error_class = OAuthError


@dataclass(frozen=True)
class AuthorizationStart:
    url: str
    state: str
    code_verifier: str


def _client(payer, redirect_uri: str | None = None) -> _RequestsOAuth2Client:
    return _RequestsOAuth2Client(
        session=payer_session(payer),
        client_id=payer.client_id,
        client_secret=payer.client_secret or None,
        # client_secret_basic/post, none, or an RFC 7523 private-key JWT assertion
        token_endpoint_auth_method=authlib_client_auth(payer),
        scope=payer.scopes,
        redirect_uri=redirect_uri,
        code_challenge_method="S256" if payer.supports_pkce else None,
    )


def start_authorization(payer, redirect_uri: str) -> AuthorizationStart:
    """The URL of the payer's SMART authorize endpoint, with our own state and PKCE.

    SMART App Launch 2 §"Standalone launch": `aud` is the payer's FHIR base.
    """
    state = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)
    params = {"aud": payer.fhir_base_url, **(payer.authorize_params or {})}
    url, _ = _client(payer, redirect_uri).create_authorization_url(
        payer.authorize_url, state=state, code_verifier=verifier, **params
    )
    return AuthorizationStart(url=url, state=state, code_verifier=verifier)


def _printable(text: str, limit: int = 64) -> str:
    """The payer's error code as printable ASCII: it is shown, stored and logged."""
    return "".join(c for c in text if 0x20 <= ord(c) <= 0x7E)[:limit]


def _call(fn, *args, **kwargs) -> dict:
    try:
        token = fn(*args, **kwargs)
    except OAuthError as exc:
        error = _printable(str(exc.error or ""))
        raise PayerOAuthError(f"the payer refused: {error}", error=error) from None
    except PayerHTTPError as exc:
        raise PayerOAuthError(f"the payer could not be reached: {exc.reason}") from None
    except ClientKeyMissing:
        raise PayerOAuthError(
            "our private key for this payer is missing (manage.py payer_client_key)"
        ) from None
    except (requests.RequestException, ValueError) as exc:
        raise PayerOAuthError(f"the payer's answer was unusable ({type(exc).__name__})") from None
    if not token.get("access_token"):
        raise PayerOAuthError("the payer returned no access token")
    return dict(token)


def exchange_code(payer, code: str, code_verifier: str, redirect_uri: str) -> dict:
    """RFC 6749 §4.1.3 token request (+ RFC 7636 code_verifier)."""
    client = _client(payer, redirect_uri)
    return _call(
        client.fetch_token,
        payer.token_url,
        grant_type="authorization_code",
        code=code,
        code_verifier=code_verifier if payer.supports_pkce else None,
        **(payer.token_params or {}),
    )


def refresh(payer, refresh_token: str) -> dict:
    """RFC 6749 §6 refresh; the caller stores the (maybe rotated) tokens."""
    return _call(_client(payer).refresh_token, payer.token_url, refresh_token=refresh_token)


def _jwt_claims(token: str) -> dict:
    """Claims of a JWT received straight from the payer's token endpoint over TLS.

    OpenID Connect Core §3.1.3.7 lets a client rely on TLS server validation
    instead of the signature for an id_token it got from the token endpoint.
    """
    try:
        payload = token.split(".")[1]
        return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        raise PayerOAuthError("the payer's id_token is malformed") from None


def _patient_from_reference(reference: str | None) -> str:
    parts = (reference or "").rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return ""


def find_patient_id(payer, token: dict) -> str:
    """The payer's id of the signed-in patient, from where `patient_id_source` says."""
    source = payer.patient_id_source
    patient = ""
    if source == "token":
        patient = str(token.get("patient") or "")
    elif source == "id_token":
        patient = _patient_from_reference(_jwt_claims(token.get("id_token", "")).get("fhirUser"))
    elif source in ("userinfo", "patient_search"):
        patient = _lookup_patient(payer, token, source)
    if not patient:
        raise PayerOAuthError(f"the payer did not say who the patient is ({source})")
    return patient


def _lookup_patient(payer, token: dict, source: str) -> str:
    session = payer_session(payer)
    headers = {"Authorization": f"Bearer {token['access_token']}", "Accept": "application/json"}
    try:
        if source == "userinfo":
            url = (payer.discovery_document or {}).get("userinfo_endpoint") or ""
            if not url:
                raise PayerOAuthError("the payer has no userinfo endpoint")
            claims = session.get(url, headers=headers).json()
            return _patient_from_reference(claims.get("fhirUser")) or str(
                claims.get("patient") or ""
            )
        bundle = session.get(f"{payer.fhir_base_url.rstrip('/')}/Patient", headers=headers).json()
    except PayerHTTPError as exc:
        raise PayerOAuthError(f"the payer could not be reached: {exc.reason}") from None
    except (requests.RequestException, ValueError):
        raise PayerOAuthError("the payer's patient lookup failed") from None
    entries = [e.get("resource", {}) for e in bundle.get("entry", [])]
    patients = [r.get("id") for r in entries if r.get("resourceType") == "Patient" and r.get("id")]
    return patients[0] if len(patients) == 1 else ""


def revoke(payer, token: str, token_type_hint: str) -> bool:
    """RFC 7009 §2.1 revocation at the payer, with our client authentication.

    False when the payer has no revocation endpoint; `PayerOAuthError` when it
    cannot be reached or refuses (§2.2: a 200 means done, unknown tokens included).
    """
    if not payer.revoke_url:
        return False
    try:
        response = _client(payer).revoke_token(
            payer.revoke_url, token=token, token_type_hint=token_type_hint
        )
    except PayerHTTPError as exc:
        raise PayerOAuthError(f"the payer could not be reached: {exc.reason}") from None
    except ClientKeyMissing:
        raise PayerOAuthError("our private key for this payer is missing") from None
    except requests.RequestException as exc:
        raise PayerOAuthError(f"revocation failed ({type(exc).__name__})") from None
    if response.status_code != 200:
        raise PayerOAuthError(f"the payer answered HTTP {response.status_code} to revocation")
    return True
