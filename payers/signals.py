"""Signals the payers app sends; other apps subscribe (payers knows nothing of apps).

`payer_status_changed(sender=Payer, payer=..., old=..., new=...)` is sent when a
payer's health flips: its discovery starts failing or recovers ("healthy" /
"failing"), or an admin changes its status. `consent` turns it into the
`payer.status_changed` webhook to apps with consents at that payer.
"""

from __future__ import annotations

from django.dispatch import Signal

payer_status_changed = Signal()


def health_of(ok: bool | None) -> str:
    return {True: "healthy", False: "failing"}.get(ok, "unknown")


def send_if_changed(payer, old: str, new: str) -> None:
    """Send the signal when health changed; a payer's first verdict is no change."""
    if old != new and old != "unknown":
        payer_status_changed.send(sender=type(payer), payer=payer, old=old, new=new)
