"""`manage.py createapp --name NAME --redirect-uri URI [...] [--mode test|live]
[--scopes "..."] [--public] --json` (DESIGN.md "Interfaces")."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.apps_registry import register_app


class Command(BaseCommand):
    help = "Register an app (OAuth client); prints its client secret once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--redirect-uri", action="append", required=True, dest="redirect_uris")
        parser.add_argument("--mode", choices=["test", "live"], default="test")
        parser.add_argument("--scopes", default=None, help="space-separated allowed scopes")
        parser.add_argument("--public", action="store_true", help="public PKCE client, no secret")
        parser.add_argument("--continuous", action="store_true", help="continuous consent policy")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def handle(self, *args, **options) -> None:
        try:
            registered = register_app(
                options["name"],
                options["redirect_uris"],
                mode=options["mode"],
                scopes=options["scopes"],
                public=options["public"],
                consent_policy="continuous" if options["continuous"] else "one_time",
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        app = registered.app
        result = {
            "client_id": app.client_id,
            "client_secret": registered.client_secret,
            "redirect_uris": app.redirect_uris,
            "mode": app.mode,
            "scopes": app.scopes,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
        else:
            for key, value in result.items():
                self.stdout.write(f"{key}: {value}")
            self.stdout.write("The client secret is shown only now; store it safely.")
