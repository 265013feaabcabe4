"""`manage.py payer_client_key SLUG [--alg RS384|ES384] [--rotate]`: private_key_jwt setup.

Gives the payer a signing key (kept encrypted), switches it to private_key_jwt
and prints the public JWK to register at the payer; our JWKS URL is
`{PUBLIC_BASE_URL}/payers/jwks.json`. Without `--rotate` an existing key is kept.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from payers.client_auth import PRIVATE_KEY_JWT, assign_new_client_key, public_jwk
from payers.models import Payer


class Command(BaseCommand):
    help = "Create (or show) our private_key_jwt key for a payer and print its public JWK."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--alg", choices=Payer.SigningAlg.values, default="RS384")
        parser.add_argument("--rotate", action="store_true", help="replace an existing key")

    def handle(self, *args, slug: str, alg: str, rotate: bool, **options) -> None:
        payer = Payer.objects.filter(slug=slug).first()
        if payer is None:
            raise CommandError(f"no payer with slug {slug!r}")
        has_key = payer.token_endpoint_auth_method == PRIVATE_KEY_JWT and payer.client_key_id
        if has_key and not rotate:
            public = public_jwk(payer)
        else:
            public = assign_new_client_key(payer, alg)
            payer.save()
        self.stdout.write(json.dumps(public, indent=2))
