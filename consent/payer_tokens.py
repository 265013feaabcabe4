"""A usable payer access token for a consent, refreshed when it is about to lapse.

The ETL calls `access_token_for(consent)` before talking to the payer. A refresh
that the payer refuses (`invalid_grant`) means the payer authorization lapsed:
the consent becomes `reauth_required` (DESIGN.md "States") and
`PayerAuthorizationLapsed` is raised. A transient failure raises
`payers.oauth_client.PayerOAuthError` and changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from consent.models import Consent, PayerGrant
from payers import oauth_client

# Refresh a little early so a token does not lapse in the middle of a sync page.
EARLY = timedelta(seconds=60)


class PayerAuthorizationLapsed(Exception):
    """The payer token expired and cannot be refreshed; the patient must sign in again."""


def access_token_for(consent: Consent) -> str:
    try:
        return _fresh_token(consent)
    except oauth_client.PayerOAuthError as exc:
        if exc.error != "invalid_grant":
            raise  # transient (unreachable, 5xx): the caller retries later
        # Outside the rolled-back transaction, so the new status sticks.
        _mark_reauth_required(consent, exc.reason)
        raise PayerAuthorizationLapsed(exc.reason) from None


@transaction.atomic
def _fresh_token(consent: Consent) -> str:
    # Row lock: two workers must not both spend a rotating refresh token.
    grant = (
        PayerGrant.objects.select_for_update().select_related("consent__payer").get(consent=consent)
    )
    if grant.expires_at is None or grant.expires_at > timezone.now() + EARLY:
        return grant.access_token
    if not grant.refresh_token:
        raise PayerAuthorizationLapsed("the payer token expired and the payer gave no refresh")
    token = oauth_client.refresh(grant.consent.payer, grant.refresh_token)
    grant.access_token = token["access_token"]
    # Refresh tokens may rotate (RFC 6749 §6); keep the old one when none is sent.
    grant.refresh_token = token.get("refresh_token") or grant.refresh_token
    expires_in = token.get("expires_in")
    grant.expires_at = timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
    grant.save(update_fields=["access_token", "refresh_token", "expires_at", "updated_at"])
    grant.consent.record("payer_token_refreshed")
    return grant.access_token


def _mark_reauth_required(consent: Consent, reason: str) -> None:
    updated = Consent.objects.filter(pk=consent.pk, status=Consent.Status.ACTIVE).update(
        status=Consent.Status.REAUTH_REQUIRED
    )
    if updated:
        consent.record("reauth_required", reason=reason[:200])
