"""`manage.py load_bundle --consent ID FILE...`: load bundle files into a consent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.models import Consent
from fhircache.loader import SourceInfo, load_resources
from fhircache.normalize.parse import ParseError, parse


def read_resource(path: Path) -> dict:
    """The JSON object of a Bundle or resource file, or a CommandError saying why not."""
    if not path.is_file():
        raise CommandError(f"not a file: {path}")
    try:
        value = parse(path.read_bytes())
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ParseError as exc:
        raise CommandError(f"{path}: {exc}") from None
    if not isinstance(value.get("resourceType"), str):
        raise CommandError(f"{path}: not a FHIR Bundle or resource (no resourceType)")
    if value["resourceType"] == "Bundle" and not isinstance(value.get("entry", []), list):
        raise CommandError(f"{path}: Bundle.entry is not a list")
    return value


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
        # every file is checked before anything is loaded
        resources = [read_resource(Path(f)) for f in files]
        try:
            record = Consent.objects.select_related("payer").get(pk=consent)
        except (Consent.DoesNotExist, ValidationError, ValueError):
            raise CommandError(f"no consent {consent}") from None
        payer = record.payer
        source = SourceInfo(
            payer=getattr(payer, "slug", str(payer.pk)),
            base_url=getattr(payer, "fhir_base_url", "") or "",
            fetched_at=datetime.now(UTC),
        )
        result = load_resources(record, resources, source=source, full_sync=full_sync)
        self.stdout.write(
            f"received {result.received}: created {result.created}, updated {result.updated},"
            f" unchanged {result.unchanged}, quarantined {result.quarantined},"
            f" deleted {result.deleted}"
        )
        for source_key, reference in result.unresolved:
            self.stdout.write(f"unresolved reference in {source_key}: {reference}")
        for source_key, target in result.dangling:
            self.stdout.write(f"dangling reference in {source_key}: {target}")
