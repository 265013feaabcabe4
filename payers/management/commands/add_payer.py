"""`manage.py add_payer --fhir-base URL [--name] [--client-id] [--client-secret-stdin] [--scopes]`.

Runs SMART discovery on the base, creates or updates the payer, prints what was
found and what an admin still has to set. A base that does not answer as a SMART
FHIR server is refused with one line and exit status 1. The secret is read from
stdin so it never appears in the shell history or the process list.
"""

from __future__ import annotations

import logging
import sys

from django.core.management.base import BaseCommand, CommandError

from payers.onboarding import NotSmartServer, add_payer


class Command(BaseCommand):
    help = "Add or update a payer from its FHIR base URL (SMART discovery fills the rest)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--fhir-base", required=True, help="the payer's FHIR base URL")
        parser.add_argument("--name", default="", help="name patients see (default: discovered)")
        parser.add_argument("--client-id", default="", help="our client id at the payer")
        parser.add_argument(
            "--client-secret-stdin",
            action="store_true",
            help="read our client secret at the payer from stdin (first line)",
        )
        parser.add_argument("--scopes", default="", help="scopes to request (default: discovered)")

    def handle(self, *args, fhir_base: str, client_secret_stdin: bool, **options) -> None:
        # A refusal is one line that already carries each attempt's reason; the
        # outbound client's per-request warnings would only repeat it.
        logging.getLogger("payers.http").setLevel(logging.ERROR)
        secret = sys.stdin.readline().strip() if client_secret_stdin else ""
        try:
            result = add_payer(
                fhir_base,
                name=options["name"],
                client_id=options["client_id"],
                client_secret=secret,
                scopes=options["scopes"],
            )
        except NotSmartServer as exc:
            raise CommandError(str(exc)) from None
        payer = result.payer
        verb = "created" if result.created else "updated"
        self.stdout.write(f"{verb} payer {payer.slug} ({payer.name})")
        self.stdout.write("found by discovery:")
        for name, value in result.found.items():
            self.stdout.write(f"  {name}: {value}")
        if secret:
            self.stdout.write("  client_secret: stored (encrypted)")
        self.stdout.write("an admin still has to set:" if result.to_do else "nothing left to set")
        for item in result.to_do:
            self.stdout.write(f"  - {item}")
