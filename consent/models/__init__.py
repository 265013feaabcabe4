"""Consent models: apps and their credentials, consents, the flow, our tokens."""

from consent.models.clients import App, Organization
from consent.models.consents import Consent, ConsentEvent, PayerGrant
from consent.models.flows import AuthorizationFlow
from consent.models.tokens import AuthorizationCode, IssuedToken, SigningKey
from consent.models.webhooks import WebhookDelivery

__all__ = [
    "App",
    "AuthorizationCode",
    "AuthorizationFlow",
    "Consent",
    "ConsentEvent",
    "IssuedToken",
    "Organization",
    "PayerGrant",
    "SigningKey",
    "WebhookDelivery",
]
