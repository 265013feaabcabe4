"""`manage.py seed_sandbox_payers`: register the sandbox payers (idempotent)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from payers.sandbox.seed import seed_sandbox_payers


class Command(BaseCommand):
    help = "Create or update the sandbox payers and register the gateway at each."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--sandbox-url", default=settings.SANDBOX_BASE_URL)
        parser.add_argument("--gateway-url", default=settings.PUBLIC_BASE_URL)

    def handle(self, *args, sandbox_url: str, gateway_url: str, **options) -> None:
        for payer in seed_sandbox_payers(sandbox_url, gateway_url):
            self.stdout.write(f"{payer.slug}: {payer.fhir_base_url}")
