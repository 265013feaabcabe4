"""The quickstart example app as its own process, beside the live gateway and sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.consent.conftest import _public_base_url  # noqa: F401 - the gateway's origin
from tests.services import WebServer


class QuickstartServer(WebServer):
    """`examples/quickstart` under gunicorn, as the Procfile runs it, on its own origin.

    On localhost like the sandbox payers (redirect URIs over http must be
    loopback); its session cookie has a name of its own, so the two do not mix.
    """

    name = "quickstart"
    host = "localhost"
    probe_path = "/"
    wsgi_app = "examples.quickstart.app:app"

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "QUICKSTART_BASE_URL": self.url}


@pytest.fixture
def quickstart(process_env, live_server, transactional_db) -> Iterator[QuickstartServer]:
    """The quickstart running and registered (by `seed_demo`'s own function) for its origin."""
    from consent.management.commands.seed_demo import seed_quickstart_app

    server = QuickstartServer({**process_env, "PAYERBRIDGE_URL": live_server.url}).wait_ready()
    seed_quickstart_app(server.url)
    yield server
    server.stop()
