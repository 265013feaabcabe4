"""State of the sandbox payers' authorization servers (they share our database).

The sandbox plays foreign payers, so these tables are its own (app label
`sandbox`): its registered clients, authorization codes, issued tokens and
signing key. Codes and tokens are stored only as SHA-256 hashes, like a careful
real server would. The tables keep their `payers_` names from before the
sandbox was an app of its own.
"""

from __future__ import annotations

import hashlib
import uuid

from django.db import models

from config.crypto import EncryptedTextField

__all__ = [
    "SandboxClient",
    "SandboxClientAssertion",
    "SandboxGrant",
    "SandboxPayer",
    "SandboxSigningKey",
    "SandboxToken",
    "token_hash",
]


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class SandboxPayer(models.Model):
    """One simulated payer: its slug, display name and quirk profile (JSON)."""

    slug = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=255)
    profile = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "payers_sandboxpayer"

    def __str__(self) -> str:
        return self.slug


class SandboxClient(models.Model):
    """An OAuth client registered at one sandbox payer (exact redirect URIs)."""

    payer = models.ForeignKey(SandboxPayer, on_delete=models.CASCADE, related_name="clients")
    client_id = models.CharField(max_length=100)
    secret_hash = models.CharField(max_length=64, blank=True)  # blank: public client
    redirect_uris = models.JSONField(default=list)
    # Public JWKs for private_key_jwt client authentication (RFC 7523 §2.2).
    jwks = models.JSONField(default=list, blank=True)

    class Meta:
        db_table = "payers_sandboxclient"
        constraints = [
            models.UniqueConstraint(fields=["payer", "client_id"], name="sandbox_client_unique")
        ]

    def __str__(self) -> str:
        return self.client_id


class SandboxClientAssertion(models.Model):
    """A `jti` already used in a client assertion: each is good once (RFC 7523 §3 item 7)."""

    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    jti_hash = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "payers_sandboxclientassertion"
        constraints = [
            models.UniqueConstraint(fields=["client", "jti_hash"], name="sandbox_jti_once")
        ]

    def __str__(self) -> str:
        return self.jti_hash


class SandboxGrant(models.Model):
    """An authorization code: single use, short lived, bound to PKCE and redirect URI."""

    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    code_hash = models.CharField(max_length=64, unique=True)
    patient_id = models.CharField(max_length=64)
    scope = models.TextField()
    redirect_uri = models.URLField(max_length=1000)
    code_challenge = models.CharField(max_length=128)
    nonce = models.CharField(max_length=255, blank=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True)

    class Meta:
        db_table = "payers_sandboxgrant"

    def __str__(self) -> str:
        return f"code for {self.patient_id}"


class SandboxToken(models.Model):
    """An access or refresh token. `family` links a refresh chain for reuse detection."""

    class Kind(models.TextChoices):
        ACCESS = "access"
        REFRESH = "refresh"

    client = models.ForeignKey(SandboxClient, on_delete=models.CASCADE)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    family = models.UUIDField(default=uuid.uuid4, db_index=True)
    patient_id = models.CharField(max_length=64)
    scope = models.TextField()
    expires_at = models.DateTimeField(null=True)
    used_at = models.DateTimeField(null=True)  # a refresh token, once rotated
    revoked_at = models.DateTimeField(null=True)
    # Requests served with this access token: drives the seeded fault schedule.
    request_count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "payers_sandboxtoken"

    def __str__(self) -> str:
        return f"{self.kind} token for {self.patient_id}"


class SandboxSigningKey(models.Model):
    """The RSA key that signs id_tokens (RS256); published at each payer's jwks_uri."""

    kid = models.CharField(max_length=64, unique=True)
    private_pem = EncryptedTextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "payers_sandboxsigningkey"

    def __str__(self) -> str:
        return self.kid
