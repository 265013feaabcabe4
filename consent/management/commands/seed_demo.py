"""`manage.py seed_demo`: idempotent demo data for a fresh install.

Each part lives with the app that owns it; this command only calls them in
order and prints what they made.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from config.env import env
from payers.seed import seed_payer_network

DEMO_ADMIN_USERNAME = "admin"


def seed_superuser() -> tuple[str, str, bool]:
    password = env.str("DEMO_ADMIN_PASSWORD", default="payerbridge-admin")
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_ADMIN_USERNAME,
        defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.org"},
    )
    if created:
        user.set_password(password)
        user.save()
    return DEMO_ADMIN_USERNAME, password, created


class Command(BaseCommand):
    help = "Create (or keep) the demo superuser and demo data; safe to run repeatedly."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        from django.conf import settings

        username, password, created = seed_superuser()
        state = "created" if created else "already present"
        self.stdout.write(
            f"Admin: {settings.PUBLIC_BASE_URL}/admin/  user {username!r} ({state}); "
            f"password {password!r} unless you changed it"
        )
        seed_payer_network(self.stdout.write)
