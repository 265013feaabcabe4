"""`manage.py purge_consent ID` (DESIGN.md "Interfaces"): end the consent if it is
still open, then purge everything it left, now, in this process."""

from __future__ import annotations

import json
import uuid

from django.core.management.base import BaseCommand, CommandError

from consent import lifecycle
from consent.models import Consent
from consent.purge import purge


class Command(BaseCommand):
    help = "End a consent (if still open) and purge its data now; prints what was deleted."

    def add_arguments(self, parser) -> None:
        parser.add_argument("consent_id", help="the consent id of the token response")

    def handle(self, *args, **options) -> None:
        consent = find_consent(options["consent_id"])
        if consent.status == Consent.Status.PENDING:
            lifecycle.close_flow(consent, Consent.Status.FAILED, "purged_by_operator")
        elif consent.status not in Consent.ENDED:
            lifecycle.end_consent(consent, reason="purged_by_operator", purge_now=True)
        consent.refresh_from_db()
        if consent.data_state != Consent.DataState.PURGED and not purge(consent.pk).ran:
            raise CommandError(f"a purge of consent {consent.pk} is running; try again shortly")
        last = consent.events.filter(kind="purged").last()
        deleted = last.detail.get("deleted", {}) if last else {}
        self.stdout.write(json.dumps({"consent_id": str(consent.pk), "deleted": deleted}))


def find_consent(value: str) -> Consent:
    try:
        consent_id = uuid.UUID(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a consent id") from None
    consent = Consent.objects.filter(pk=consent_id).first()
    if consent is None:
        raise CommandError(f"no consent {consent_id}")
    return consent
