"""The patient's receipt link: signed, unguessable, valid as long as the consent exists."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.urls import reverse

from consent.models import Consent

SALT = "consent.receipt"


def receipt_token(consent: Consent) -> str:
    # The per-consent random nonce makes the link unguessable even with the id known;
    # the signature (SECRET_KEY) makes it unforgeable.
    return signing.dumps({"c": str(consent.pk), "n": consent.receipt_nonce}, salt=SALT)


def receipt_url(consent: Consent) -> str:
    # In the query string, which access logs redact (a path would be logged).
    query = urlencode({"t": receipt_token(consent)})
    return f"{settings.PUBLIC_BASE_URL}{reverse('consent:receipt')}?{query}"


def consent_for(token: str) -> Consent | None:
    try:
        data = signing.loads(token, salt=SALT)
    except signing.BadSignature:
        return None
    consent = Consent.objects.select_related("app", "payer").filter(pk=data.get("c")).first()
    if consent is None or consent.receipt_nonce != data.get("n"):
        return None
    return consent
