"""Fixtures that run the sandbox payers as their own server process (payers work).

`sandbox_server` is gunicorn with `config.settings_sandbox` on
http://localhost:<port> (the gateway's live server is on 127.0.0.1, so the two
never share a cookie). `sandbox_payers` registers the named sandbox payers with
the live gateway's callback URL. Tests that flush the database (transaction
tests) remove them; `sandbox_payers` puts them back before each test that uses
it, so refer to payers by slug rather than keeping row ids across tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.services import WebServer

__all__ = ["SandboxServer", "_sandbox_payers_present", "sandbox_payers", "sandbox_server"]


class SandboxServer(WebServer):
    """The sandbox payers process on localhost (never the gateway's 127.0.0.1)."""

    name = "sandbox"
    host = "localhost"
    probe_path = "/sandbox/none/fhir/metadata"
    threads = 8

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {
            **env,
            "SANDBOX_BASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "config.settings_sandbox",
        }


@pytest.fixture(scope="session")
def sandbox_server(process_env) -> Iterator[SandboxServer]:
    server = SandboxServer(process_env).wait_ready()
    yield server
    server.stop()


def _seed(sandbox_url: str, gateway_url: str):
    from payers.sandbox.seed import seed_sandbox_payers

    return seed_sandbox_payers(sandbox_url, gateway_url)


@pytest.fixture(scope="session")
def sandbox_payers(sandbox_server, live_server, django_db_blocker):
    with django_db_blocker.unblock():
        return _seed(sandbox_server.url, live_server.url)


@pytest.fixture(autouse=True)
def _sandbox_payers_present(request) -> None:
    """Re-seed (cheap, idempotent) when an earlier transaction test flushed the tables."""
    if "sandbox_payers" not in request.fixturenames:
        return
    sandbox = request.getfixturevalue("sandbox_server")
    gateway = request.getfixturevalue("live_server")
    blocker = request.getfixturevalue("django_db_blocker")
    with blocker.unblock():
        from payers.sandbox.models import SandboxPayer

        if SandboxPayer.objects.count() < 5:
            _seed(sandbox.url, gateway.url)
