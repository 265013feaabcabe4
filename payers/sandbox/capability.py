"""CapabilityStatement and SMART configuration documents of a sandbox payer."""

from __future__ import annotations

from typing import Any

from payers.sandbox.models import SandboxPayer
from payers.sandbox.oauth import fhir_base, oauth_base
from payers.sandbox.registry import profile_of

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SEARCH_PARAMS = {
    "Patient": ["_id"],
    "Coverage": ["patient", "beneficiary"],
    "ExplanationOfBenefit": ["patient", "_id"],
}


def capability_statement(payer: SandboxPayer) -> dict[str, Any]:
    """FHIR R4 CapabilityStatement with the SMART `oauth-uris` security extension."""
    profile = profile_of(payer)
    oauth = oauth_base(payer.slug)
    resources = []
    for rtype in profile.resource_types:
        entry: dict[str, Any] = {
            "type": rtype,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {"name": name, "type": "token" if name == "_id" else "reference"}
                for name in SEARCH_PARAMS.get(rtype, ["patient"])
            ],
        }
        if rtype == "Patient" and profile.everything:
            entry["operation"] = [
                {
                    "name": "everything",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                }
            ]
        resources.append(entry)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "publisher": "Payerbridge sandbox",
        "kind": "instance",
        "software": {"name": "Payerbridge sandbox payer", "version": profile.name},
        "implementation": {"description": payer.name, "url": fhir_base(payer.slug)},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": OAUTH_URIS,
                            "extension": [
                                {"url": "authorize", "valueUri": f"{oauth}/authorize"},
                                {"url": "token", "valueUri": f"{oauth}/token"},
                                {"url": "revoke", "valueUri": f"{oauth}/revoke"},
                            ],
                        }
                    ],
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                },
                "resource": resources,
            }
        ],
    }


def smart_configuration(payer: SandboxPayer, sandbox_base_url: str | None = None) -> dict[str, Any]:
    """SMART App Launch 2 §2.1 `.well-known/smart-configuration`."""
    profile = profile_of(payer)
    oauth = oauth_base(payer.slug, sandbox_base_url)
    capabilities = [
        "launch-standalone",
        "client-public",
        "client-confidential-symmetric",
        "client-confidential-asymmetric",
        "context-standalone-patient",
        "permission-patient",
        "permission-v1",
        "permission-v2",
        "sso-openid-connect",
    ]
    grant_types = ["authorization_code"]
    if profile.refresh:
        capabilities.append("permission-offline")
        grant_types.append("refresh_token")
    return {
        "issuer": fhir_base(payer.slug, sandbox_base_url),
        "jwks_uri": f"{oauth}/jwks",
        "authorization_endpoint": f"{oauth}/authorize",
        "token_endpoint": f"{oauth}/token",
        "revocation_endpoint": f"{oauth}/revoke",
        "userinfo_endpoint": f"{oauth}/userinfo",
        "grant_types_supported": grant_types,
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": sorted(set(profile.scopes.split()) | {"openid", "fhirUser"}),
        "code_challenge_methods_supported": ["S256"],
        "capabilities": capabilities,
    }
