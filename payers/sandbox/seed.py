"""Register the sandbox payers on both sides: the directory and the sandbox server.

Directory side: a `Payer` row per sandbox payer (active, endpoints filled, our
client id and encrypted secret). Sandbox side: the `SandboxPayer` with its
profile and the gateway registered as a confidential client whose redirect
URI is `{gateway}/payers/callback` (several gateways may be registered).
"""

from __future__ import annotations

import secrets
from typing import Any

from django.db import transaction

from payers.client_auth import assign_new_client_key, public_jwk
from payers.models import Payer
from payers.sandbox import datasets
from payers.sandbox.capability import smart_configuration
from payers.sandbox.models import SandboxClient, SandboxPayer, token_hash
from payers.sandbox.oauth import REFRESH_LIFETIME, fhir_base, oauth_base
from payers.sandbox.profiles import NAMED, QuirkProfile

GATEWAY_CLIENT_ID = "payerbridge-gateway"

# Directory facts of the named sandbox payers (fictional plans).
DIRECTORY: dict[str, dict[str, Any]] = {
    "bluebird-medicare": {
        "aliases": ["Bluebird", "Bluebird MA"],
        "lines_of_business": ["medicare_advantage"],
        "states": ["FL", "GA"],
    },
    "lakeshore-health": {
        "aliases": ["Lakeshore"],
        "lines_of_business": ["commercial", "exchange"],
        "states": ["IL", "MI", "WI"],
    },
    "prairie-medicaid": {
        "aliases": ["Prairie Medicaid", "PrairieCare"],
        "lines_of_business": ["medicaid", "chip"],
        "states": ["NE"],
    },
    "summit-mutual": {
        "aliases": ["Summit"],
        "lines_of_business": ["commercial"],
        "states": ["CO", "UT"],
    },
    "harbor-exchange": {
        "aliases": ["Harbor"],
        "lines_of_business": ["exchange"],
        "states": ["WA", "OR"],
    },
}


def callback_url(gateway_base_url: str) -> str:
    return f"{gateway_base_url.rstrip('/')}/payers/callback"


@transaction.atomic
def register_sandbox_payer(
    slug: str,
    name: str,
    profile: QuirkProfile,
    sandbox_base_url: str,
    gateway_base_url: str,
    directory: dict[str, Any] | None = None,
) -> Payer:
    """Create or update one sandbox payer on both sides; idempotent."""
    for patient in profile.patients:
        datasets.load(patient.dataset)  # fail now, not at sign-in, on an unknown dataset
    server, _ = SandboxPayer.objects.update_or_create(
        slug=slug, defaults={"name": name, "profile": profile.to_dict()}
    )
    fhir = fhir_base(slug, sandbox_base_url)
    oauth = oauth_base(slug, sandbox_base_url)
    payer = Payer.objects.filter(slug=slug).first() or Payer(slug=slug)
    secret = payer.client_secret or secrets.token_urlsafe(32)
    payer.name = name
    payer.brand = "Payerbridge sandbox"
    for field, value in (directory or {}).items():
        setattr(payer, field, value)
    payer.fhir_base_url = fhir
    payer.authorize_url = f"{oauth}/authorize"
    payer.token_url = f"{oauth}/token"
    payer.revoke_url = f"{oauth}/revoke"
    payer.scopes = profile.scopes
    payer.client_id = GATEWAY_CLIENT_ID
    payer.client_secret = secret
    _set_client_auth(payer, profile)
    payer.supports_pkce = True
    payer.supports_refresh = profile.refresh
    # Refresh tokens live 90 days (oauth.REFRESH_LIFETIME); without them, one token's life.
    payer.max_authorization_days = REFRESH_LIFETIME.days if profile.refresh else None
    payer.patient_id_source = profile.patient_id_source
    payer.quirks = profile.gateway_quirks()
    # What the sandbox's smart-configuration answers; discovery refreshes it and health.
    payer.discovery_document = smart_configuration(server, sandbox_base_url)
    payer.status = Payer.Status.ACTIVE
    payer.is_sandbox = True
    payer.source = "sandbox"
    payer.save()

    client, _ = SandboxClient.objects.get_or_create(payer=server, client_id=GATEWAY_CLIENT_ID)
    client.secret_hash = token_hash(secret)
    client.jwks = [public_jwk(payer)] if payer.client_private_key else []
    redirect = callback_url(gateway_base_url)
    if redirect not in client.redirect_uris:
        client.redirect_uris = [*client.redirect_uris, redirect]
    client.save()
    return payer


def _set_client_auth(payer: Payer, profile: QuirkProfile) -> None:
    """private_key_jwt profiles: our key pair for this payer (kept across re-seeds)."""
    if profile.client_auth != "private_key_jwt":
        payer.token_endpoint_auth_method = Payer.ClientAuthMethod.CLIENT_SECRET_BASIC
        payer.client_private_key = payer.client_key_id = ""
        return
    payer.token_endpoint_auth_method = Payer.ClientAuthMethod.PRIVATE_KEY_JWT
    if payer.token_endpoint_auth_signing_alg != profile.client_key_alg or not (
        payer.client_private_key and payer.client_key_id
    ):
        assign_new_client_key(payer, profile.client_key_alg)


def seed_sandbox_payers(sandbox_base_url: str, gateway_base_url: str) -> list[Payer]:
    """The named sandbox payers (see `profiles.NAMED`), registered for this gateway."""
    return [
        register_sandbox_payer(
            slug, name, profile, sandbox_base_url, gateway_base_url, DIRECTORY.get(slug)
        )
        for slug, (name, profile) in NAMED.items()
    ]


def sandbox_info() -> list[dict[str, Any]]:
    """What `sandbox_info --json` prints: each sandbox payer and its test patients."""
    out = []
    for server in SandboxPayer.objects.order_by("slug"):
        profile = QuirkProfile.from_dict(server.profile)
        payer = Payer.objects.filter(slug=server.slug).first()
        out.append(
            {
                "slug": server.slug,
                "name": server.name,
                "fhir_base_url": payer.fhir_base_url if payer else "",
                "profile": profile.name,
                "patients": [
                    {
                        "username": p.username,
                        "password": p.password,
                        "patient_id": datasets.load(p.dataset).patient_id,
                    }
                    for p in profile.patients
                ],
            }
        )
    return out
