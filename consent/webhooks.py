"""Webhooks to apps, per Standard Webhooks (https://www.standardwebhooks.com/).

`emit(consent, type, data)` and `emit_for_app(app, type, data)` may be called
inside or outside a transaction: the delivery row is written now (so it rolls
back with the caller's work) and sent after commit by the
`consent.deliver_webhook` task. Each message is signed with the app's own
webhook secret by the `standardwebhooks` package: headers `webhook-id` (the
delivery id, the same on every retry), `webhook-timestamp` (this attempt) and
`webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`).

Retries back off from seconds to hours for about a day. Short waits are Celery
countdowns (kept below the broker's visibility timeout, which would otherwise
redeliver the message); longer ones are `next_attempt_at`, picked up by the
`consent.deliver_due_webhooks` beat task.

Live-mode apps may not point webhooks at loopback, private or link-local
addresses (the gateway must not become a probe of its own network); test-mode
apps may (a developer's laptop receives them on localhost).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import orjson
import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from consent.models import App, Consent, WebhookDelivery

log = logging.getLogger(__name__)

EVENTS = frozenset(
    {
        "sync.completed",
        "sync.failed",
        "consent.reauth_required",
        "consent.revoked",
        "consent.expired",
        "payer.status_changed",
    }
)
# Multiples of WEBHOOK_RETRY_BASE_S (5 s by default): 5 s, 30 s, 5 min, 30 min,
# 2 h, 4 h, 6 h, 6 h, 6 h — the last attempt about 25 hours after the event.
RETRY_STEPS = (1, 6, 60, 360, 1440, 2880, 4320, 4320, 4320)
TIMEOUT = (5.0, 15.0)  # connect, read
CLAIM = timedelta(seconds=60)
USER_AGENT = "Payerbridge-Webhooks/0.1"
LOG_ENTRIES = 20


class AddressRefused(Exception):
    """The webhook URL resolves to an address a live-mode app may not use."""


# --- emitting ---------------------------------------------------------------


def emit(consent: Consent, event_type: str, data: dict | None = None) -> None:
    """Tell the consent's app about `event_type`; nothing when it has no webhook URL."""
    _create(consent.app, consent, event_type, data)


def emit_for_app(app: App, event_type: str, data: dict | None = None) -> None:
    """An event about the app as a whole (no consent), such as `payer.status_changed`."""
    _create(app, None, event_type, data)


def _create(app: App, consent: Consent | None, event_type: str, data: dict | None) -> None:
    if event_type not in EVENTS:
        raise ValueError(f"unknown webhook event {event_type!r}")
    if not app.webhook_url or not app.webhook_secret or not app.is_active:
        return
    now = timezone.now()
    payload = {
        "type": event_type,
        "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "consent_id": str(consent.pk) if consent else None,
            "external_id": (consent.external_id or None) if consent else None,
            "app_mode": app.mode,
            **(data or {}),
        },
    }
    delivery = WebhookDelivery.objects.create(
        app=app,
        consent=consent,
        event_type=event_type,
        url=app.webhook_url,
        body=orjson.dumps(payload, default=str).decode(),
        created_at=now,
    )
    _enqueue_on_commit(delivery.pk)


def _enqueue_on_commit(delivery_id, countdown: float | None = None) -> None:
    from consent.lifecycle_tasks import deliver_webhook

    key = str(delivery_id)
    transaction.on_commit(lambda: deliver_webhook.apply_async((key,), countdown=countdown))


def redeliver(delivery: WebhookDelivery) -> None:
    """Send a delivery again from the start of the schedule (admin "Redeliver")."""
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        state=WebhookDelivery.State.PENDING, attempts=0, next_attempt_at=None, claimed_until=None
    )
    _enqueue_on_commit(delivery.pk)


# --- delivering -------------------------------------------------------------


def retry_delay(attempts: int) -> timedelta | None:
    """The wait after the `attempts`-th failed attempt; None when the schedule is spent."""
    if attempts > len(RETRY_STEPS):
        return None
    return timedelta(seconds=settings.WEBHOOK_RETRY_BASE_S * RETRY_STEPS[attempts - 1])


def _claim(delivery_id) -> WebhookDelivery | None:
    """Conditional UPDATE: one worker sends a delivery at a time, and only when due."""
    now = timezone.now()
    due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + timedelta(seconds=1))
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    claimed = (
        WebhookDelivery.objects.filter(due, free, pk=delivery_id)
        .filter(state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING])
        .update(claimed_until=now + CLAIM)
    )
    if not claimed:
        return None
    return WebhookDelivery.objects.select_related("app").get(pk=delivery_id)


def deliver(delivery_id) -> str | None:
    """One attempt. Returns the state it left the delivery in (None: not due or taken)."""
    delivery = _claim(delivery_id)
    if delivery is None:
        return None
    started = time.monotonic()
    status, error = None, ""
    try:
        check_destination(delivery.app, delivery.url)
        response = _post(delivery)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except AddressRefused as exc:
        error = str(exc)
    except requests.RequestException as exc:
        error = _describe(exc)
    return _record(delivery, status, error, (time.monotonic() - started) * 1000)


def _post(delivery: WebhookDelivery) -> requests.Response:
    timestamp = datetime.now(UTC).replace(microsecond=0)
    msg_id = str(delivery.id)
    signature = Webhook(delivery.app.webhook_secret).sign(msg_id, timestamp, delivery.body)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
    # No redirects: a redirect could lead a live app's delivery to a refused address.
    return requests.post(
        delivery.url,
        data=delivery.body.encode(),
        headers=headers,
        timeout=TIMEOUT,
        allow_redirects=False,
    )


def _record(delivery: WebhookDelivery, status: int | None, error: str, ms: float) -> str:
    now = timezone.now()
    attempts = delivery.attempts + 1
    entry = {"at": now.isoformat(), "status": status, "error": error, "ms": round(ms)}
    fields = {
        "attempts": attempts,
        "last_status": status,
        "last_error": error[:255],
        "claimed_until": None,
        "log": [*delivery.log, entry][-LOG_ENTRIES:],
    }
    delay = None if error.startswith("refused") else retry_delay(attempts)
    if not error:
        fields.update(state=WebhookDelivery.State.DELIVERED, delivered_at=now, next_attempt_at=None)
    elif delay is None:
        fields.update(state=WebhookDelivery.State.FAILED, next_attempt_at=None)
    else:
        fields.update(state=WebhookDelivery.State.RETRYING, next_attempt_at=now + delay)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    log.info(
        "webhook %s %s to app %s: attempt %s %s",
        delivery.event_type,
        delivery.pk,
        delivery.app_id,
        attempts,
        error or "delivered",
    )
    if delay is not None and error and delay.total_seconds() <= _countdown_cap():
        _enqueue_on_commit(delivery.pk, countdown=delay.total_seconds())
    return fields["state"]


def _countdown_cap() -> float:
    """Countdowns stay well below the visibility timeout; longer waits go to beat."""
    return min(600.0, settings.CELERY_VISIBILITY_TIMEOUT / 2)


def due_deliveries(limit: int = 500) -> list:
    """Ids of deliveries whose next attempt has come (the beat task's work)."""
    now = timezone.now()
    return list(
        WebhookDelivery.objects.filter(
            state__in=[WebhookDelivery.State.PENDING, WebhookDelivery.State.RETRYING],
            next_attempt_at__lte=now,
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect"
    return type(exc).__name__


# --- where a webhook may go -----------------------------------------------------


def check_destination(app: App, url: str) -> None:
    """Refuse a live-mode app's URL that resolves to a non-public address.

    Every address the name resolves to is checked (one private answer is
    enough to refuse). Test-mode apps may use localhost.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused("refused: not an http(s) URL")
    if app.mode != App.Mode.LIVE:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused("refused: the host name does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not is_public(address):
            raise AddressRefused(f"refused: {parts.hostname} resolves to a non-public address")


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


# --- payer health → apps with consents there -----------------------------------


def payer_status_changed(sender, payer, old: str, new: str, **kwargs) -> None:
    """Receiver of `payers.signals.payer_status_changed`: each app with live consents hears."""
    apps = App.objects.filter(
        consents__payer=payer, consents__status__in=Consent.REVOCABLE
    ).distinct()
    for app in apps:
        emit_for_app(
            app,
            "payer.status_changed",
            {"payer": {"slug": payer.slug, "name": payer.name}, "previous": old, "status": new},
        )
