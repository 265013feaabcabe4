"""`manage.py load_bundle --consent ID FILE...`: load bundle files into a consent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consent.models import Consent
from fhircache.loader import SourceInfo, load_resources


class Command(BaseCommand):
    help = "Load FHIR Bundle (or single resource) JSON files into one consent's cache."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--consent", required=True, help="consent id (UUID)")
        parser.add_argument(
            "--full-sync",
            action="store_true",
            help="the files are everything: delete rows not in them",
        )
        parser.add_argument("files", nargs="+")

    def handle(self, *args, consent: str, files: list[str], full_sync: bool, **options) -> None:
        try:
            record = Consent.objects.select_related("payer").get(pk=consent)
        except (Consent.DoesNotExist, ValueError, Exception) as exc:
            raise CommandError(f"no consent {consent}") from exc
        payer = record.payer
        source = SourceInfo(
            payer=getattr(payer, "slug", str(payer.pk)),
            base_url=getattr(payer, "fhir_base_url", "") or "",
            fetched_at=datetime.now(UTC),
        )
        paths = [Path(f) for f in files]
        for path in paths:
            if not path.is_file():
                raise CommandError(f"not a file: {path}")
        result = load_resources(
            record, (p.read_bytes() for p in paths), source=source, full_sync=full_sync
        )
        self.stdout.write(
            f"received {result.received}: created {result.created}, updated {result.updated},"
            f" unchanged {result.unchanged}, quarantined {result.quarantined},"
            f" deleted {result.deleted}"
        )
        for source_key, reference in result.unresolved:
            self.stdout.write(f"unresolved reference in {source_key}: {reference}")
        for source_key, target in result.dangling:
            self.stdout.write(f"dangling reference in {source_key}: {target}")
