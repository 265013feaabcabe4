"""The grants of our authorization server (authlib), with SMART's extra rules.

- Authorization code (RFC 6749 §4.1) with PKCE S256 required for every client
  (RFC 7636; SMART App Launch 2 forbids `plain`), `aud` checked against our FHIR
  base, single-use codes claimed with a conditional UPDATE.
- Refresh token (RFC 6749 §6) with rotation; a used refresh token presented
  again ends the consent (RFC 9700 §4.14.2).
- Client credentials (RFC 6749 §4.4) for app-level tokens.
"""

from __future__ import annotations

import re
from datetime import timedelta

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from django.conf import settings
from django.utils import timezone

from consent import scopes as scope_rules
from consent.models import AuthorizationCode, Consent, IssuedToken
from consent.secrets import digest

CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
CODE_LIFETIME = timedelta(minutes=5)


def fhir_base_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/fhir"


def aud_matches(aud: str | None) -> bool:
    """`aud` is our FHIR base, with or without one trailing slash (DESIGN.md "Origins")."""
    return aud in (fhir_base_url(), fhir_base_url() + "/")


# RFC 7636 §4.2: an S256 challenge is BASE64URL(SHA256(verifier)) without padding,
# always 43 characters (authlib accepts any 43-128 unreserved characters, so a
# malformed challenge would make a code no verifier can redeem). The verifier's
# 43*128unreserved (§4.1) is authlib's check; `consent.oauth.params` refuses the
# trailing newline its `$` would let through.
S256_CHALLENGE = re.compile(r"[A-Za-z0-9\-_]{43}")
# Stored as they came and echoed exactly (id_token `nonce`, the consent's
# `external_id`), so longer ones are refused rather than cut.
MAX_NONCE = 255
MAX_EXTERNAL_ID = 255


class S256CodeChallenge(CodeChallenge):
    """PKCE with S256 only: a missing challenge or method, or `plain`, is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: missing 'code_challenge'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE 'code_challenge_method' must be 'S256'.")
        if not S256_CHALLENGE.fullmatch(data["code_challenge"]):
            raise InvalidRequestError("An S256 'code_challenge' is 43 base64url characters.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartLaunchRules:
    """Extension: `aud` and SMART scopes, checked after the redirect URI is trusted."""

    def __call__(self, grant):
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant, redirect_uri):
        payload = grant.request.payload
        if not aud_matches(payload.data.get("aud")):
            raise InvalidRequestError("'aud' must be this server's FHIR base URL.")
        if not scope_rules.resource_scopes(grant.request.scope):
            raise InvalidScopeError("Request at least one patient/... resource scope.")
        if scope_rules.APP_LEVEL_SCOPE in scope_rules.split(grant.request.scope):
            raise InvalidScopeError("'consents' is for client-credentials tokens only.")
        if len(payload.data.get("nonce") or "") > MAX_NONCE:
            raise InvalidRequestError(f"'nonce' may be at most {MAX_NONCE} characters.")
        external_id = payload.data.get("external_id") or ""
        if len(external_id) > MAX_EXTERNAL_ID or not external_id.isprintable():
            raise InvalidRequestError(
                f"'external_id' is at most {MAX_EXTERNAL_ID} printable characters."
            )


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS

    def save_authorization_code(self, code: str, request) -> AuthorizationCode:
        data = request.payload.data
        return AuthorizationCode.objects.create(
            code_hash=digest(code),
            app=request.client,
            consent=request.user,
            redirect_uri=data.get("redirect_uri") or "",
            scope=request.scope or "",
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            nonce=data.get("nonce") or "",  # at most 255 characters (SmartLaunchRules)
            expires_at=timezone.now() + CODE_LIFETIME,
        )

    def query_authorization_code(self, code: str, client) -> AuthorizationCode | None:
        # Bound to the client: another client's code is simply not found.
        row = (
            AuthorizationCode.objects.select_related("consent")
            .filter(code_hash=digest(code), app=client)
            .first()
        )
        if row is None:
            return None
        if row.used_at is not None:
            self._end_on_replay(row)
        if row.expires_at <= timezone.now():
            return None
        return row

    def authenticate_user(self, authorization_code: AuthorizationCode) -> Consent:
        # Claim the code only now, after PKCE passed; the conditional UPDATE makes a
        # concurrent second exchange of the same code lose (RFC 6749 §4.1.2).
        claimed = AuthorizationCode.objects.filter(
            pk=authorization_code.pk, used_at__isnull=True
        ).update(used_at=timezone.now())
        if not claimed:
            self._end_on_replay(authorization_code)
        consent = authorization_code.consent
        if not consent.is_usable:
            raise InvalidGrantError("The consent of this code has ended.")
        # The token generator only sees the consent; the nonce of this code rides along.
        consent.oidc_nonce = authorization_code.nonce
        return consent

    def _end_on_replay(self, authorization_code: AuthorizationCode):
        """RFC 6749 §4.1.2: a code used twice revokes what it issued (RFC 9700 §4.2.4).

        A consent has exactly one code, so what the code issued is every token of
        the consent: it ends, as it does on refresh-token reuse.
        """
        from consent.lifecycle import end_consent

        end_consent(authorization_code.consent, reason="authorization_code_replay")
        raise InvalidGrantError("The code was already used; the tokens it issued are revoked.")

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Already claimed in `authenticate_user`; kept for the audit trail."""


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = CLIENT_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def _validate_request_client(self):
        """A public client may refresh with only `grant_type` and `refresh_token`.

        RFC 6749 §6 requires authentication only of confidential clients, and
        SMART clients (the SMART JS client, oauthlib) send no `client_id` then:
        the refresh token itself names its client. A confidential client's token
        presented without credentials still gets `invalid_client` below.
        """
        form = self.request.form
        if "Authorization" not in self.request.headers and not form.get("client_id"):
            row = (
                IssuedToken.objects.select_related("app")
                .filter(refresh_token_hash=digest(form.get("refresh_token") or ""))
                .first()
            )
            if row is not None and row.app.is_active and row.app.is_public:
                return row.app
        return super()._validate_request_client()

    def _validate_request_token(self, client) -> IssuedToken:
        presented = self.request.form.get("refresh_token")
        if presented is None:
            raise InvalidRequestError("Missing 'refresh_token' in request.")
        token = (
            IssuedToken.objects.select_related("consent", "app")
            .filter(refresh_token_hash=digest(presented))
            .first()
        )
        if token is None or not token.check_client(client) or token.consent is None:
            raise InvalidGrantError()
        if token.refresh_used_at is not None:
            self._end_on_reuse(token)
        if token.is_revoked():  # the one definition of a live token (IssuedToken.is_live)
            raise InvalidGrantError("The consent of this refresh token has ended.")
        self._validate_token_scope(token)
        claimed = IssuedToken.objects.filter(pk=token.pk, refresh_used_at__isnull=True).update(
            refresh_used_at=timezone.now()
        )
        if not claimed:  # a concurrent refresh with the same token won: that is reuse too
            self._end_on_reuse(token)
        return token

    def _end_on_reuse(self, token: IssuedToken):
        from consent.lifecycle import end_consent

        end_consent(token.consent, reason="refresh_token_reuse")
        raise InvalidGrantError("Refresh token reuse detected; the consent has been ended.")

    def authenticate_refresh_token(self, refresh_token):  # pragma: no cover - see above
        raise NotImplementedError

    def authenticate_user(self, refresh_token: IssuedToken) -> Consent:
        return refresh_token.consent

    def issue_token(self, user: Consent, refresh_token: IssuedToken) -> dict:
        # The token's `scope` is what is granted, written once each (RFC 6749 §5.1),
        # not the narrowing request as the client spelled it.
        scope = scope_rules.normalize(self.request.payload.scope) or refresh_token.get_scope()
        return self.generate_token(
            user=user, scope=scope, include_refresh_token=self.INCLUDE_NEW_REFRESH_TOKEN
        )

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """The old refresh token was marked used when claimed; its access token dies too."""
        IssuedToken.objects.filter(pk=refresh_token.pk).update(revoked_at=timezone.now())


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """App-level tokens for `/api/consents` (scope `consents`)."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self):
        super().validate_token_request()
        requested = scope_rules.split(self.request.payload.scope)
        if any(s != scope_rules.APP_LEVEL_SCOPE for s in requested):
            raise InvalidScopeError("Client-credentials tokens carry only the 'consents' scope.")

    def create_token_response(self):
        token = self.generate_token(scope=scope_rules.APP_LEVEL_SCOPE, include_refresh_token=False)
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER
