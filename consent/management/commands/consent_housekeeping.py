"""`manage.py consent_housekeeping`: what the beat task does every minute, by hand."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from consent.housekeeping import run


class Command(BaseCommand):
    help = "Expire and purge due consents, retry lost purges, delete dead flows/codes/tokens."

    def handle(self, *args, **options) -> None:
        self.stdout.write(json.dumps(run()))
