"""Receiving Payerbridge's webhooks (Standard Webhooks) and checking their signature.

Verify against the exact body bytes before trusting anything in them. A real
app would store events in its database and deduplicate by `webhook-id`
(redeliveries reuse it); this demo keeps the last few hundred in memory.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Event:
    id: str  # the `webhook-id` header
    type: str
    consent_id: str
    received_at: datetime
    verified: bool
    verdict: str  # "signature valid" or why it was rejected
    body: str


class EventLog:
    def __init__(self, secret: str, keep: int = 500) -> None:
        self._verifier = Webhook(secret)
        self._events: deque[Event] = deque(maxlen=keep)
        self._lock = threading.Lock()

    def receive(self, body: bytes, headers: dict[str, str]) -> Event:
        """Verify and record one delivery; rejected ones are recorded too (for the demo)."""
        headers = {name.lower(): value for name, value in headers.items()}
        try:
            payload = self._verifier.verify(body, headers)
            verified, verdict = True, "signature valid"
        except (WebhookVerificationError, ValueError) as exc:  # ValueError: malformed header
            verified, verdict = False, f"rejected: {exc or type(exc).__name__}"
            payload = _loose_json(body)
        data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
        event = Event(
            id=headers.get("webhook-id", "")[:100],
            type=str(payload.get("type", "?"))[:100],
            consent_id=str(data.get("consent_id", "")),
            received_at=datetime.now(UTC),
            verified=verified,
            verdict=verdict,
            body=json.dumps(payload, indent=2)[:4000]
            if payload
            else body[:500].decode(errors="replace"),
        )
        with self._lock:
            redelivery = verified and any(e.id == event.id and e.verified for e in self._events)
            if not redelivery:
                self._events.append(event)
        return event

    def for_consent(self, consent_id: str) -> list[Event]:
        with self._lock:
            return [e for e in reversed(self._events) if e.consent_id == consent_id]

    def has(self, consent_id: str, event_type: str) -> bool:
        return any(e.verified and e.type == event_type for e in self.for_consent(consent_id))


def _loose_json(body: bytes) -> dict:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
