"""Fixtures for webhook tests: a receiving HTTP server and a worker with short retries.

The receiver is the payers tests' scriptable server; what it received is
checked with the `standardwebhooks` package, as an app would check it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from config.celery import app as celery_app
from consent.models import App
from tests.payers.misbehaving import MisbehavingServer, Reply, Seen
from tests.services import Worker, wait_until

HOOK = "/hooks/payerbridge"

__all__ = ["HOOK", "fast_retry_worker", "hooked_app", "received_events", "webhook_receiver"]


@pytest.fixture
def webhook_receiver() -> Iterator[MisbehavingServer]:
    server = MisbehavingServer().start()
    server.script(HOOK, Reply(204))
    yield server
    server.stop()


@pytest.fixture
def fast_retry_worker(transactional_db, start_worker) -> Worker:
    """A worker on an emptied queue whose webhook retries wait 1 s, 6 s, ..."""
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)
    return start_worker(WEBHOOK_RETRY_BASE_S="1")


@pytest.fixture
def hooked_app(webhook_receiver) -> Callable[[App], App]:
    """Point an app's webhooks at the receiver."""

    def hook(app: App) -> App:
        app.webhook_url = webhook_receiver.url + HOOK
        app.save(update_fields=["webhook_url"])
        return app

    return hook


def verified(app: App, seen: Seen) -> dict:
    """The body of a received webhook, after checking its signature as an app would."""
    return Webhook(app.webhook_secret).verify(seen.body, seen.headers)


def _verified_or_none(app: App, seen: Seen) -> dict | None:
    """Another app's webhook (same receiver) does not verify with this app's secret."""
    try:
        return verified(app, seen)
    except WebhookVerificationError:
        return None


def received_events(
    server: MisbehavingServer, app: App, event_type: str, count: int = 1, timeout: float = 30
) -> list[dict]:
    """Wait for `count` verified webhooks of `event_type`; their bodies."""

    def events() -> list[dict]:
        bodies = [b for b in (_verified_or_none(app, s) for s in server.hits(HOOK)) if b]
        found = [b for b in bodies if b["type"] == event_type]
        return found if len(found) >= count else []

    return wait_until(events, timeout, what=f"{count} {event_type} webhook(s)")


def decoded(seen: Seen) -> dict:
    return orjson.loads(seen.body)
