"""Our SMART on FHIR authorization server: authlib's, wired to our models.

`server` (module level) is the one instance every OAuth view uses.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, timedelta

from authlib.common.encoding import json_dumps
from authlib.integrations.django_oauth2.requests import DjangoOAuth2Payload
from authlib.oauth2 import AuthorizationServer as _AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from consent import scopes as scope_rules
from consent.models import App, Consent, IssuedToken
from consent.oauth import grants, keys
from consent.oauth.endpoints import IntrospectionEndpoint, RevocationEndpoint
from consent.secrets import digest, new_secret

# SMART App Launch 2 / DESIGN.md: access tokens live at most one hour.
ACCESS_TOKEN_LIFETIME = timedelta(hours=1)


def iso(dt) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def subject(consent: Consent) -> str:
    """OpenID Connect Core §2 `sub`: unique within our issuer and never reassigned.

    Patient ids are only unique within one payer ("123" at two plans is two
    people), so `sub` is derived from both; it stays the same for the same
    member of the same plan across consents. `fhirUser` names the FHIR id.
    """
    member = f"{consent.payer_id}:{consent.patient_id}".encode()
    return hashlib.sha256(member).hexdigest()[:32]


class DjangoRequest(OAuth2Request):
    """A Django request seen by authlib; its URI derives from PUBLIC_BASE_URL."""

    def __init__(self, request: HttpRequest):
        super().__init__(
            request.method, settings.PUBLIC_BASE_URL + request.path, headers=request.headers
        )
        self.payload = DjangoOAuth2Payload(request)
        self._request = request

    @property
    def args(self):
        return self._request.GET

    @property
    def form(self):
        return self._request.POST


def stored_authorization_request(params: dict) -> OAuth2Request:
    """Rebuild the app's authorization request (kept on the flow) for authlib."""
    request = OAuth2Request("GET", settings.PUBLIC_BASE_URL + "/oauth/authorize")
    request.payload = BasicOAuth2Payload(params)
    return request


class AuthorizationServer(_AuthorizationServer):
    def __init__(self) -> None:
        super().__init__(scopes_supported=None)
        self.register_token_generator("default", self.generate_bearer_token)
        self.register_grant(
            grants.AuthorizationCodeGrant,
            [grants.S256CodeChallenge(required=True), grants.SmartLaunchRules()],
        )
        self.register_grant(grants.RefreshTokenGrant)
        self.register_grant(grants.ClientCredentialsGrant)
        self.register_endpoint(IntrospectionEndpoint)
        self.register_endpoint(RevocationEndpoint)
        self.register_client_auth_method("client_secret_basic", _client_secret_basic)

    # --- framework glue ----------------------------------------------------
    def query_client(self, client_id: str) -> App | None:
        # Our client ids are URL-safe tokens; anything unprintable (NUL, which
        # PostgreSQL refuses in a query) is simply no client.
        if not client_id or not client_id.isprintable():
            return None
        return App.objects.filter(client_id=client_id, is_active=True).first()

    def create_oauth2_request(self, request) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return DjangoRequest(request)

    def create_json_request(self, request):  # pragma: no cover - no JSON endpoints
        raise NotImplementedError

    def handle_response(self, status_code: int, payload, headers) -> HttpResponse:
        if isinstance(payload, dict):
            payload = json_dumps(payload)
        response = HttpResponse(payload, status=status_code)
        for name, value in headers:
            response[name] = value
        return response

    def send_signal(self, name, *args, **kwargs) -> None:
        pass

    def validate_requested_scope(self, scope: str | None) -> None:
        if scope_rules.unknown(scope):
            raise InvalidScopeError(scope_rules.unknown_description(scope))

    # --- tokens ------------------------------------------------------------
    def generate_bearer_token(
        self,
        grant_type: str,
        client: App,
        user: Consent | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict:
        """The token response of DESIGN.md "Interfaces".

        SMART App Launch 2 §"Access token response" plus `consent_id` and
        `consent_expires_at`; refresh token only with `offline_access`.
        """
        now = timezone.now()
        lifetime = int(ACCESS_TOKEN_LIFETIME.total_seconds())
        consent = user
        if consent is not None and consent.expires_at:
            lifetime = max(1, min(lifetime, int((consent.expires_at - now).total_seconds())))
        token = {
            "access_token": new_secret(),
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": scope or "",
        }
        if consent is None:
            return token
        granted = scope_rules.split(scope)
        token["patient"] = consent.patient_id
        token["consent_id"] = str(consent.pk)
        token["consent_expires_at"] = iso(consent.expires_at)
        if include_refresh_token and "offline_access" in granted:
            token["refresh_token"] = new_secret()
        if "openid" in granted:
            token["id_token"] = self.id_token(client, consent, now, lifetime)
        return token

    def id_token(self, client: App, consent: Consent, now, lifetime: int) -> str:
        """OpenID Connect Core §2 id_token with SMART's `fhirUser` claim, RS256."""
        issued = int(now.timestamp())
        claims = {
            "iss": settings.PUBLIC_BASE_URL,
            "sub": subject(consent),
            "aud": client.client_id,
            "iat": issued,
            "exp": issued + lifetime,
            "auth_time": int((consent.granted_at or now).timestamp()),
            "fhirUser": f"{grants.fhir_base_url()}/Patient/{consent.patient_id}",
        }
        nonce = getattr(consent, "oidc_nonce", "")
        if nonce:  # OpenID Connect Core §3.1.3.6: echo the authorization request's nonce
            claims["nonce"] = nonce
        return keys.sign(claims)

    def save_token(self, token: dict, request: OAuth2Request) -> IssuedToken:
        refresh = token.get("refresh_token")
        return IssuedToken.objects.create(
            access_token_hash=digest(token["access_token"]),
            refresh_token_hash=digest(refresh) if refresh else None,
            app=request.client,
            consent=request.user,
            grant_type=request.payload.grant_type or "",
            scope=token.get("scope", ""),
            access_expires_at=timezone.now() + timedelta(seconds=token["expires_in"]),
        )


def _client_secret_basic(query_client, request: OAuth2Request) -> App | None:
    """RFC 6749 §2.3.1 HTTP Basic; credentials that are not UTF-8 authenticate no one.

    authlib decodes the header strictly and lets UnicodeDecodeError through (a 500).
    """
    try:
        return authenticate_client_secret_basic(query_client, request)
    except UnicodeDecodeError:
        return None


server = AuthorizationServer()
