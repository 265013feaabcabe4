"""`manage.py seed_demo`: idempotent demo data for a fresh install.

Each part lives with the app that owns it; this command only calls them in
order and prints what they made.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from config.env import env
from payers.seed import seed_payer_network

DEMO_ADMIN_USERNAME = "admin"


# The admin password of a development stack; never used with DEBUG off.
DEV_ADMIN_PASSWORD = "payerbridge-admin"  # noqa: S105 - development only, see admin_password


def admin_password() -> str:
    """DEMO_ADMIN_PASSWORD, or the development default when DEBUG is on; else refuse."""
    from django.conf import settings

    password = env.str("DEMO_ADMIN_PASSWORD", default="")
    if password:
        return password
    if settings.DEBUG:
        return DEV_ADMIN_PASSWORD
    raise CommandError(
        "DEBUG is off: set DEMO_ADMIN_PASSWORD to create the admin user "
        "(there is no default admin password outside development)"
    )


def seed_superuser() -> tuple[str, bool]:
    """The demo superuser; its password is only read when it has to be created."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_ADMIN_USERNAME).first()
    if user is not None:
        return DEMO_ADMIN_USERNAME, False
    password = admin_password()
    user_model.objects.create_superuser(DEMO_ADMIN_USERNAME, "admin@example.org", password)
    return DEMO_ADMIN_USERNAME, True


DEMO_CLIENT_ID = "payerbridge-demo"
DEMO_REDIRECT_URIS = ["http://localhost:3000/callback", "http://127.0.0.1:8765/callback"]


def demo_public_app(client_id: str, name: str, purpose: str, redirect_uris: list[str]):
    """A test-mode public PKCE client (no secret to re-print) of the demo organization."""
    from consent.models import App, Organization

    org, _ = Organization.objects.get_or_create(name="Payerbridge Demo")
    return App.objects.get_or_create(
        client_id=client_id,
        defaults={
            "name": name,
            "organization": org,
            "purpose": purpose,
            "redirect_uris": redirect_uris,
            "mode": App.Mode.TEST,
        },
    )


def seed_demo_app():
    """For launches by hand (see the command's output); its redirect URIs lead nowhere."""
    return demo_public_app(
        DEMO_CLIENT_ID,
        "Payerbridge Demo App",
        "Shows what a patient-facing app can do with your health plan records.",
        DEMO_REDIRECT_URIS,
    )


QUICKSTART_CLIENT_ID = "payerbridge-quickstart"
# The same development-only default as examples/quickstart/app.py (which must
# not import this project); set QUICKSTART_WEBHOOK_SECRET for both elsewhere.
QUICKSTART_DEV_WEBHOOK_SECRET = "whsec_cGF5ZXJicmlkZ2UtcXVpY2tzdGFydC1kZXYtb25seSE="  # noqa: S105


def seed_quickstart_app(base_url: str | None = None):
    """The quickstart example app (examples/quickstart/): a test-mode public PKCE client.

    Its redirect URI and webhook URL follow QUICKSTART_BASE_URL on every run,
    so moving the quickstart to another port needs only a re-seed.
    """
    base = base_url or env.str("QUICKSTART_BASE_URL", default="http://localhost:8002")
    base = base.rstrip("/")
    app, created = demo_public_app(
        QUICKSTART_CLIENT_ID,
        "Payerbridge Quickstart",
        "Shows your claims and what your plan paid, to demonstrate Payerbridge.",
        [f"{base}/callback"],
    )
    app.redirect_uris = [f"{base}/callback"]  # also when QUICKSTART_BASE_URL changed
    app.webhook_url = f"{base}/webhooks"
    app.webhook_secret = env.str("QUICKSTART_WEBHOOK_SECRET", default=QUICKSTART_DEV_WEBHOOK_SECRET)
    app.full_clean(exclude=["client_secret_hash", "webhook_secret"])
    app.save()
    return app, created


class Command(BaseCommand):
    help = "Create (or keep) the demo superuser and demo data; safe to run repeatedly."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        from django.conf import settings

        username, created = seed_superuser()
        state = "created" if created else "already present"
        # A password is printed only in development, and only the development default.
        if settings.DEBUG and not env.str("DEMO_ADMIN_PASSWORD", default=""):
            shown = f"password {DEV_ADMIN_PASSWORD!r} unless you changed it"
        else:
            shown = "password from DEMO_ADMIN_PASSWORD" if created else "password unchanged"
        self.stdout.write(
            f"Admin: {settings.PUBLIC_BASE_URL}/admin/  user {username!r} ({state}); {shown}"
        )
        app, created = seed_demo_app()
        self.stdout.write(
            f"Demo app ({'created' if created else 'already present'}): public PKCE client "
            f"client_id={app.client_id!r}, test mode (sandbox payers only), redirect URIs "
            f"{', '.join(app.redirect_uris)}. Start a launch at {settings.PUBLIC_BASE_URL}"
            f"/oauth/authorize?response_type=code&client_id={app.client_id}"
            f"&redirect_uri=<one of them>&scope=launch/patient+openid+fhirUser+patient/*.read"
            f"&aud={settings.PUBLIC_BASE_URL}/fhir&state=<random>&code_challenge=<S256>"
            f"&code_challenge_method=S256"
        )
        seed_payer_network(self.stdout.write)
        quickstart, created = seed_quickstart_app()
        self.stdout.write(
            f"Quickstart app ({'created' if created else 'already present'}): public PKCE client "
            f"client_id={quickstart.client_id!r}, redirect URI {quickstart.redirect_uris[0]}, "
            f"webhooks to {quickstart.webhook_url}"
        )
