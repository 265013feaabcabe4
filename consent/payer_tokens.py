"""A usable payer access token for a consent, refreshed when it is about to lapse.

The ETL calls `access_token_for(consent)` before talking to the payer, and
`refresh_after_rejection(consent, token)` when the payer answered 401 to it.
When the payer authorization can no longer be renewed (no refresh token, or
the payer refuses the refresh with `invalid_grant`) the consent becomes
`reauth_required` (DESIGN.md "States"), the app gets the
`consent.reauth_required` webhook, and `PayerAuthorizationLapsed` is raised. A
transient failure raises `payers.oauth_client.PayerOAuthError` and changes
nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from consent.models import Consent, PayerGrant
from payers import oauth_client

log = logging.getLogger(__name__)

# Refresh early so a token does not lapse in the middle of a sync page: a tenth
# of the token's lifetime, at most a minute (a 20-second token refreshes in its
# last 2 seconds, not on every call).
EARLY_MAX = timedelta(seconds=60)
EARLY_SHARE = 0.1
EARLY_MIN = timedelta(seconds=1)


class PayerAuthorizationLapsed(Exception):
    """The payer token expired and cannot be refreshed; the patient must sign in again."""


def early_window(grant: PayerGrant) -> timedelta:
    """How long before `expires_at` the token counts as lapsed (scales with its lifetime)."""
    if grant.expires_at is None:
        return timedelta(0)
    issued = grant.updated_at or grant.created_at or timezone.now()
    lifetime = max(grant.expires_at - issued, timedelta(0))
    return max(EARLY_MIN, min(EARLY_MAX, lifetime * EARLY_SHARE))


def access_token_for(consent: Consent) -> str:
    return access_token_and_expiry(consent)[0]


def access_token_and_expiry(consent: Consent) -> tuple[str, datetime | None]:
    """A token fresh enough to use now, and when it should be renewed (None: never)."""
    return _lapse_guard(consent, lambda: _fresh_token(consent, rejected=None))


def refresh_after_rejection(consent: Consent, rejected: str) -> tuple[str, datetime | None]:
    """The payer answered 401 to `rejected`: refresh once (unless another worker already did)."""
    return _lapse_guard(consent, lambda: _fresh_token(consent, rejected=rejected))


def _lapse_guard(consent: Consent, get):
    try:
        return get()
    except PayerAuthorizationLapsed as exc:
        mark_reauth_required(consent, str(exc))
        raise
    except oauth_client.PayerOAuthError as exc:
        if exc.error != "invalid_grant":
            raise  # transient (unreachable, 5xx): the caller retries later
        # Outside the rolled-back transaction, so the new status sticks.
        mark_reauth_required(consent, exc.reason)
        raise PayerAuthorizationLapsed(exc.reason) from None


@transaction.atomic
def _fresh_token(consent: Consent, rejected: str | None) -> tuple[str, datetime | None]:
    # Row lock: two workers must not both spend a rotating refresh token.
    grant = (
        PayerGrant.objects.select_for_update()
        .select_related("consent__payer")
        .filter(consent=consent)
        .first()
    )
    if grant is None:
        raise PayerAuthorizationLapsed("no payer authorization is stored for this consent")
    if rejected is not None and grant.access_token != rejected:
        return grant.access_token, _renew_at(grant)  # someone refreshed it meanwhile
    fresh = grant.expires_at is None or grant.expires_at > timezone.now() + early_window(grant)
    if rejected is None and fresh:
        return grant.access_token, _renew_at(grant)
    if not grant.refresh_token:
        raise PayerAuthorizationLapsed(
            "the payer no longer accepts our access token and gave no refresh token"
            if rejected
            else "the payer token expired and the payer gave no refresh token"
        )
    token = oauth_client.refresh(grant.consent.payer, grant.refresh_token)
    grant.access_token = token["access_token"]
    # Refresh tokens may rotate (RFC 6749 §6); keep the old one when none is sent.
    grant.refresh_token = token.get("refresh_token") or grant.refresh_token
    expires_in = token.get("expires_in")
    now = timezone.now()
    grant.expires_at = now + timedelta(seconds=int(expires_in)) if expires_in else None
    grant.updated_at = now
    grant.save(update_fields=["access_token", "refresh_token", "expires_at", "updated_at"])
    grant.consent.record("payer_token_refreshed", after_rejection=rejected is not None)
    return grant.access_token, _renew_at(grant)


def _renew_at(grant: PayerGrant) -> datetime | None:
    return None if grant.expires_at is None else grant.expires_at - early_window(grant)


def mark_reauth_required(consent: Consent, reason: str) -> bool:
    """Active → reauth_required, once; the app hears of it by webhook."""
    updated = Consent.objects.filter(pk=consent.pk, status=Consent.Status.ACTIVE).update(
        status=Consent.Status.REAUTH_REQUIRED, updated_at=timezone.now()
    )
    if updated:
        consent.record("reauth_required", reason=reason[:200])
        _emit(consent, "consent.reauth_required", {"reason": reason[:200]})
    return bool(updated)


def _emit(consent: Consent, event: str, data: dict) -> None:
    # Lazy: consent.webhooks is the lifecycle work's module and imports much.
    try:
        from consent.webhooks import emit
    except ImportError:  # pragma: no cover - before the webhook module lands
        log.warning("webhooks unavailable; %s for %s not sent", event, consent.pk)
        return
    emit(consent, event, data)
