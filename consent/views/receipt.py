"""The patient's receipt: what is shared with whom until when, and a revoke button."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from consent import lifecycle
from consent import scopes as scope_rules
from consent.models import Consent
from consent.receipts import consent_for


@never_cache  # the page is reached through a bearer link; no cache keeps a copy
@require_http_methods(["GET", "POST"])
def receipt(request: HttpRequest) -> HttpResponse:
    consent = consent_for(request.GET.get("t", ""))
    if consent is None:
        return render(
            request,
            "consent/error.html",
            {"title": "Receipt not found", "message": "This receipt link is not valid."},
            status=404,
        )
    # A consent waiting for the patient to sign in at the payer again still holds
    # cached data: the patient can revoke it as well as an active one.
    if request.method == "POST" and consent.status in Consent.REVOCABLE:
        lifecycle.end_consent(consent, reason="revoked_by_patient")
        consent.refresh_from_db()
    return render(
        request,
        "consent/receipt.html",
        {
            "consent": consent,
            "app": consent.app,
            "payer": consent.payer,
            "shared": scope_rules.describe(consent.scope),
            "is_active": consent.status == Consent.Status.ACTIVE,
            "revocable": consent.status in Consent.REVOCABLE,
        },
    )
