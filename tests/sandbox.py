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
import requests

from tests.services import BIN, Process, free_port, wait_until

__all__ = ["SandboxServer", "_sandbox_payers_present", "sandbox_payers", "sandbox_server"]


class SandboxServer(Process):
    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://localhost:{self.port}"
        env = {
            **env,
            "SANDBOX_BASE_URL": self.url,
            "DJANGO_SETTINGS_MODULE": "config.settings_sandbox",
        }
        super().__init__(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "--workers",
                "1",
                "--no-control-socket",
            ],
            env,
            "sandbox",
        )

    def wait_ready(self, timeout: float = 60) -> SandboxServer:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sandbox exited early:\n{self.output()[-3000:]}")
            try:
                requests.get(f"{self.url}/sandbox/none/fhir/metadata", timeout=5)
                return True
            except requests.ConnectionError:
                return False

        wait_until(answers, timeout, what="sandbox server to answer")
        return self


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
