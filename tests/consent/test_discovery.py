"""Discovery documents and the SMART oauth-uris extension that fhirclient reads."""

from __future__ import annotations

import requests
from fhirclient.models.capabilitystatement import CapabilityStatement

REQUIRED_SMART_FIELDS = {
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "grant_types_supported",
    "token_endpoint_auth_methods_supported",
    "scopes_supported",
    "response_types_supported",
    "capabilities",
    "code_challenge_methods_supported",
    "introspection_endpoint",
    "revocation_endpoint",
}


def test_smart_configuration_at_both_places(live_server, transactional_db):
    for path in ("/fhir/.well-known/smart-configuration", "/.well-known/smart-configuration"):
        doc = requests.get(live_server.url + path, timeout=10).json()
        assert REQUIRED_SMART_FIELDS <= doc.keys()
        assert doc["code_challenge_methods_supported"] == ["S256"]
        assert doc["authorization_endpoint"] == f"{live_server.url}/oauth/authorize"
        assert doc["issuer"] == live_server.url
        assert {
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "context-standalone-patient",
            "permission-offline",
            "permission-patient",
            "permission-v1",
            "permission-v2",
            "sso-openid-connect",
        } <= set(doc["capabilities"])


def test_rfc8414_metadata(live_server, transactional_db):
    doc = requests.get(
        f"{live_server.url}/.well-known/oauth-authorization-server", timeout=10
    ).json()
    assert doc["issuer"] == live_server.url
    assert doc["token_endpoint"] == f"{live_server.url}/oauth/token"
    assert "plain" not in doc["code_challenge_methods_supported"]
    keys = requests.get(doc["jwks_uri"], timeout=10).json()["keys"]
    assert keys and keys[0]["alg"] == "RS256" and "d" not in keys[0]


def test_capability_statement_carries_oauth_uris(live_server, transactional_db):
    response = requests.get(f"{live_server.url}/fhir/metadata", timeout=10)
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    statement = CapabilityStatement(response.json())  # fhirclient's own model, strict
    [ext] = statement.rest[0].security.extension
    urls = {e.url: e.valueUri for e in ext.extension}
    assert urls["authorize"] == f"{live_server.url}/oauth/authorize"
    assert urls["token"] == f"{live_server.url}/oauth/token"
