"""`manage.py import_payers`: load the real payer directory.

Without options it loads the fixture shipped in the repo (no network, no
external files). `--from DIR` rebuilds the directory from the public lists in
DIR (the layout of `payers/directory_sources/`) and `--write-fixture` saves the
result as the new shipped fixture.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand
from django.db import transaction

from payers.importer import FIXTURE, build_directory, load_entries, read_fixture, write_fixture


class Command(BaseCommand):
    help = "Import the real payer directory (Lantern + fhir-gateway lists), deduplicated."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="source", type=Path, help="directory of raw lists")
        parser.add_argument(
            "--write-fixture", dest="rewrite", action="store_true", help=f"rewrite {FIXTURE}"
        )

    @transaction.atomic
    def handle(self, *args, source: Path | None, rewrite: bool, **options) -> None:
        entries = build_directory(source) if source else read_fixture()
        if rewrite:
            write_fixture(entries)
            self.stdout.write(f"wrote {len(entries)} entries to {FIXTURE}")
        created, updated = load_entries(entries)
        self.stdout.write(f"payer directory: {created} created, {updated} updated")
