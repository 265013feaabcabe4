"""Failed client authentication is throttled per client id and per address (issue 12)."""

from __future__ import annotations

import uuid

import pytest
import requests

from config.throttle import FailureThrottle
from consent.oauth import throttling


@pytest.fixture
def low_limits(monkeypatch):
    """Small limits under scopes of this test alone (Redis is shared between runs)."""
    run = uuid.uuid4().hex[:8]
    per_client = FailureThrottle(f"t-client-{run}", limit=3, window=300)
    per_address = FailureThrottle(f"t-address-{run}", limit=6, window=300)
    monkeypatch.setattr(throttling, "PER_CLIENT", per_client)
    monkeypatch.setattr(throttling, "PER_ADDRESS", per_address)
    return per_client, per_address


def client_credentials(live_server, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        f"{live_server.url}/oauth/token",
        data={"grant_type": "client_credentials", "scope": "consents"},
        auth=(client_id, secret),
        timeout=10,
    )


def test_a_client_id_is_refused_for_a_while_after_failed_secrets(
    live_server, make_client, low_limits
):
    per_client, _ = low_limits
    client, bystander = make_client(), make_client()
    for _ in range(3):
        assert client_credentials(live_server, client.client_id, "guess").status_code == 401
    blocked = client_credentials(live_server, client.client_id, client.secret)
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "temporarily_unavailable"
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    assert blocked.headers["Cache-Control"] == "no-store"
    # Another app from the same address is not affected.
    assert client_credentials(live_server, bystander.client_id, bystander.secret).status_code == 200
    # When the window ends the rightful app is back.
    per_client.reset(client.client_id)
    assert client_credentials(live_server, client.client_id, client.secret).status_code == 200


def test_an_address_is_refused_after_failures_across_client_ids(
    live_server, make_client, low_limits
):
    client = make_client()
    for n in range(6):
        assert client_credentials(live_server, f"nobody-{n}", "guess").status_code == 401
    blocked = client_credentials(live_server, client.client_id, client.secret)
    assert blocked.status_code == 429 and blocked.headers["Retry-After"]
    # Introspection and revocation share the counter.
    revoke = requests.post(
        f"{live_server.url}/oauth/revoke", data={"token": "x"}, auth=client.auth(), timeout=10
    )
    assert revoke.status_code == 429
