"""Browser SMART apps: CORS without credentials on token, revoke, discovery and JWKS."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.consent.test_token import introspect

APP_ORIGIN_PAGE = b"<!doctype html><title>A browser SMART app</title><p>app</p>"
CORS_PATHS = [
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
    ("GET", "/oauth/jwks"),
    ("GET", "/.well-known/smart-configuration"),
    ("GET", "/fhir/.well-known/smart-configuration"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("GET", "/.well-known/openid-configuration"),
]


@pytest.mark.parametrize(("method", "path"), CORS_PATHS)
def test_preflight_allows_any_origin_without_credentials(live_server, method, path):
    origin = "https://app.example"
    preflight = requests.options(
        f"{live_server.url}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert method in preflight.headers["Access-Control-Allow-Methods"]
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    if method == "GET":
        got = requests.get(f"{live_server.url}{path}", headers={"Origin": origin}, timeout=10)
        assert got.headers["Access-Control-Allow-Origin"] == "*"


def test_introspection_is_not_offered_to_browsers(live_server):
    preflight = requests.options(
        f"{live_server.url}/oauth/introspect",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


@pytest.fixture
def app_origin() -> Iterator[str]:
    """A page on another origin (localhost, while the gateway is 127.0.0.1)."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(APP_ORIGIN_PAGE)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("localhost", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://localhost:{server.server_address[1]}"
    server.shutdown()


EXCHANGE_JS = """
async ([base, clientId, secret, code, verifier, redirectUri]) => {
  const config = await (await fetch(base + "/.well-known/smart-configuration")).json();
  const auth = {"Authorization": "Basic " + btoa(clientId + ":" + secret),
                "Content-Type": "application/x-www-form-urlencoded"};
  const form = (o) => new URLSearchParams(o).toString();
  const first = await fetch(config.token_endpoint, {method: "POST", headers: auth,
      body: form({grant_type: "authorization_code", code, code_verifier: verifier,
                  redirect_uri: redirectUri})});
  const token = await first.json();
  const again = await fetch(config.token_endpoint, {method: "POST", headers: auth,
      body: form({grant_type: "refresh_token", refresh_token: token.refresh_token})});
  return JSON.stringify({status: first.status, token, refreshed: await again.json(),
                         jwks: (await (await fetch(config.jwks_uri)).json()).keys.length});
}
"""


@pytest.mark.browser
def test_headless_chromium_exchanges_and_refreshes_with_fetch(
    live_server, make_client, issue_code, app_origin
):
    if not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"):
        pytest.skip("chromium is not installed")
    from playwright.sync_api import sync_playwright

    client = make_client()  # Basic credentials: every token request needs a preflight
    issued = issue_code(client)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_context(java_script_enabled=True).new_page()
        page.goto(app_origin)
        args = [
            live_server.url,
            client.client_id,
            client.secret,
            issued.code,
            issued.verifier,
            issued.redirect_uri,
        ]
        result = json.loads(page.evaluate(EXCHANGE_JS, args))
        browser.close()
    assert result["status"] == 200, result
    assert result["token"]["consent_id"] == str(issued.consent.pk)
    assert result["refreshed"]["access_token"] and result["jwks"] >= 1
    assert introspect(live_server, client, result["refreshed"]["access_token"])["active"]
