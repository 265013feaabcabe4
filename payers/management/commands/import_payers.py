"""`manage.py import_payers`: load the real payer directory, or merge an operator's CSV.

Without options it loads the fixture shipped in the repo (no network, no
external files). `--from DIR` rebuilds the directory from the public lists in
DIR (the layout of `payers/directory_sources/`) and `--write-fixture` saves the
result as the new shipped fixture. `--csv FILE [--dry-run]` merges an operator's
own list (see `payers.csv_import`); secrets are stored encrypted and never printed.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from payers import csv_import
from payers.importer import FIXTURE, build_directory, load_entries, read_fixture, write_fixture


class Command(BaseCommand):
    help = "Import the real payer directory, or merge an operator's CSV of payers."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--from", dest="source", type=Path, help="directory of raw lists")
        parser.add_argument(
            "--write-fixture", dest="rewrite", action="store_true", help=f"rewrite {FIXTURE}"
        )
        parser.add_argument(
            "--csv",
            type=Path,
            help="CSV: name, fhir_base_url, client_id, client_secret, status, states, "
            "lines_of_business",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="with --csv: show what would change"
        )

    def handle(self, *args, source: Path | None, rewrite: bool, **options) -> None:
        if options["csv"]:
            self._merge_csv(options["csv"], dry_run=options["dry_run"])
            return
        if options["dry_run"]:
            raise CommandError("--dry-run goes with --csv")
        with transaction.atomic():
            entries = build_directory(source) if source else read_fixture()
            if rewrite:
                write_fixture(entries)
                self.stdout.write(f"wrote {len(entries)} entries to {FIXTURE}")
            created, updated = load_entries(entries)
        self.stdout.write(f"payer directory: {created} created, {updated} updated")

    def _merge_csv(self, path: Path, *, dry_run: bool) -> None:
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            changes = csv_import.plan(csv_import.read_rows(path))
        except (csv_import.CsvError, UnicodeDecodeError) as exc:
            raise CommandError(f"{path}: nothing imported:\n{exc}") from None
        for change in changes:
            self.stdout.write(change.describe())
        if not dry_run:
            csv_import.apply(changes)
        created = sum(c.created for c in changes)
        updated = sum(bool(c.fields) and not c.created for c in changes)
        unchanged = len(changes) - created - updated
        if dry_run:
            self.stdout.write(
                f"csv: {created} to create, {updated} to update, {unchanged} unchanged "
                "(dry run: nothing saved)"
            )
        else:
            self.stdout.write(f"csv: {created} created, {updated} updated, {unchanged} unchanged")
