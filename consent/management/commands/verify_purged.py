"""`manage.py verify_purged ID [--canary TEXT ...] [--json]` (DESIGN.md "Interfaces"):
exit 0 when nothing of the consent remains, 1 otherwise, listing what remains."""

from __future__ import annotations

import json
import sys

from django.core.management.base import BaseCommand

from consent.management.commands.purge_consent import find_consent
from consent.verification import verify_purged


class Command(BaseCommand):
    help = "Check that a purged consent left nothing behind (database and Redis)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("consent_id")
        parser.add_argument(
            "--canary",
            action="append",
            default=[],
            help="a value planted in the consent's data, searched for everywhere (repeatable)",
        )
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options) -> None:
        result = verify_purged(find_consent(options["consent_id"]), options["canary"])
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json(), indent=2))
        else:
            for item in result.left:
                self.stdout.write(f"LEFT  {item.kind:7} {item.where} ({item.count})")
            for kept in result.retained:
                self.stdout.write(f"kept  {kept['model']} ({kept['count']}): {kept['why']}")
            self.stdout.write("clean" if result.clean else "NOT clean")
        if not result.clean:
            sys.exit(1)
