"""Discovery documents: SMART configuration, RFC 8414 and OpenID Connect metadata,
CapabilityStatement security.

One builder: `authorization_server_metadata()` (RFC 8414 §2) holds every field;
`openid_configuration()` (OpenID Connect Discovery 1.0 §3) and
`smart_configuration()` (SMART App Launch 2 §"SMART on FHIR OAuth authorization
Endpoints and Capabilities") are it plus what their standard adds, so the
issuer, endpoints and keys can never disagree between them. The FHIR API work
builds `/fhir/metadata` (fhircache.api.metadata) on `capability_statement()`.
"""

from __future__ import annotations

from django.conf import settings

from consent import scopes as scope_rules

CAPABILITIES = [
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "context-standalone-patient",
    "permission-offline",
    "permission-patient",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
]
# What our id_tokens carry (consent.oauth.server.AuthorizationServer.id_token).
CLAIMS = ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"]
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def endpoints() -> dict[str, str]:
    base = settings.PUBLIC_BASE_URL
    return {
        "authorize": f"{base}/oauth/authorize",
        "token": f"{base}/oauth/token",
        "introspect": f"{base}/oauth/introspect",
        "revoke": f"{base}/oauth/revoke",
        "jwks": f"{base}/oauth/jwks",
    }


def authorization_server_metadata() -> dict:
    """RFC 8414 §2 (served at /.well-known/oauth-authorization-server)."""
    urls = endpoints()
    auth_methods = ["client_secret_basic", "client_secret_post", "none"]
    return {
        "issuer": settings.PUBLIC_BASE_URL,
        "authorization_endpoint": urls["authorize"],
        "token_endpoint": urls["token"],
        "jwks_uri": urls["jwks"],
        "introspection_endpoint": urls["introspect"],
        "revocation_endpoint": urls["revoke"],
        "scopes_supported": [*scope_rules.SUPPORTED_FOR_DISCOVERY, scope_rules.APP_LEVEL_SCOPE],
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "token_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "subject_types_supported": ["public"],
        "claims_supported": CLAIMS,
    }


def openid_configuration() -> dict:
    """OpenID Connect Discovery 1.0 §3 (served at /.well-known/openid-configuration)."""
    return {
        **authorization_server_metadata(),
        "scopes_supported": scope_rules.SUPPORTED_FOR_DISCOVERY,
        "response_modes_supported": ["query"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
    }


def smart_configuration() -> dict:
    """SMART App Launch 2 `.well-known/smart-configuration` (all required fields)."""
    metadata = authorization_server_metadata()
    return {
        **metadata,
        "scopes_supported": scope_rules.SUPPORTED_FOR_DISCOVERY,
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "capabilities": CAPABILITIES,
    }


def rest_security() -> dict:
    """CapabilityStatement.rest.security with the SMART `oauth-uris` extension."""
    urls = endpoints()
    return {
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
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": name, "valueUri": urls[name]}
                    for name in ("authorize", "token", "introspect", "revoke")
                ],
            }
        ],
    }


def capability_statement() -> dict:
    """A minimal FHIR R4 CapabilityStatement; the FHIR API work adds the resources."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-25",
        "publisher": "Payerbridge",
        "kind": "instance",
        "software": {"name": "Payerbridge"},
        "implementation": {
            "description": "Payerbridge FHIR API",
            "url": f"{settings.PUBLIC_BASE_URL}/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{"mode": "server", "security": rest_security(), "resource": []}],
    }
