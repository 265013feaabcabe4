"""`manage.py discover_payers [--payer SLUG] [--due]`: SMART discovery, printed per payer."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from payers.discovery import discover_many, discovery_due
from payers.models import Payer


class Command(BaseCommand):
    help = "Fetch SMART configuration (or CapabilityStatement oauth-uris) and record health."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--payer", help="slug of one payer")
        parser.add_argument("--due", action="store_true", help="only payers due (backoff)")

    def handle(self, *args, payer: str | None, due: bool, **options) -> None:
        payers = Payer.objects.exclude(status=Payer.Status.DISABLED).order_by("slug")
        if payer:
            payers = Payer.objects.filter(slug=payer)
            if not payers.exists():
                raise CommandError(f"no payer with slug {payer!r}")
        elif due:
            payers = payers.filter(pk__in=discovery_due())
        results = discover_many(payers)
        for item, ok in results:
            if ok:
                self.stdout.write(f"ok      {item.slug}")
            else:
                self.stdout.write(f"failed  {item.slug}: {item.last_discovery_error}")
        good = sum(ok for _, ok in results)
        self.stdout.write(f"{good} ok, {len(results) - good} failed")
