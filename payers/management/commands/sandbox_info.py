"""`manage.py sandbox_info [--json]`: the sandbox payers and their test patients."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from payers.sandbox.seed import sandbox_info


class Command(BaseCommand):
    help = "List the sandbox payers, their FHIR base URLs and test patients."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options) -> None:
        info = sandbox_info()
        if options["json"]:
            self.stdout.write(json.dumps(info, indent=2))
            return
        if not info:
            self.stdout.write("No sandbox payers yet: run `manage.py seed_sandbox_payers`.")
        for payer in info:
            self.stdout.write(f"{payer['name']} [{payer['profile']}]\n  {payer['fhir_base_url']}")
            for p in payer["patients"]:
                self.stdout.write(
                    f"  {p['username']} / {p['password']}  (Patient/{p['patient_id']})"
                )
