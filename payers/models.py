"""The payer directory: each health plan's Patient Access API, as data.

Endpoints, our client registration, quirks and health live on `Payer`; code
never special-cases a payer by name. Field names are a cross-area contract
(see prompts/contracts.md).
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from config.crypto import EncryptedTextField

LINE_OF_BUSINESS_LABELS = (
    ("medicare_advantage", "Medicare Advantage"),
    ("medicaid", "Medicaid"),
    ("chip", "CHIP"),
    ("exchange", "Marketplace (exchange)"),
    ("commercial", "Commercial"),
)
LINES_OF_BUSINESS = tuple(code for code, _ in LINE_OF_BUSINESS_LABELS)
# Failed syncs in a row after which a payer is flagged to admins.
SYNC_FAILURES_FLAGGED = 3


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL (lower-cased), or None when it has none."""
    parts = urlsplit(url or "")
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme.lower()}://{parts.hostname.lower()}{port}"


class Payer(models.Model):
    """A health plan's Patient Access API (endpoints, client, quirks, health)."""

    class ClientAuthMethod(models.TextChoices):
        """How we authenticate at the payer's token endpoint (RFC 7591 §2 names)."""

        CLIENT_SECRET_BASIC = "client_secret_basic", "Client secret (HTTP Basic)"
        CLIENT_SECRET_POST = "client_secret_post", "Client secret (form body)"
        PRIVATE_KEY_JWT = "private_key_jwt", "Private-key JWT (RFC 7523, SMART asymmetric)"
        NONE = "none", "None (public client)"

    class SigningAlg(models.TextChoices):
        """SMART App Launch 2 "client-confidential-asymmetric": RS384 and ES384."""

        RS384 = "RS384", "RS384"
        ES384 = "ES384", "ES384"

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NOT_CONNECTED = "not_connected", "Not yet connected"
        DISABLED = "disabled", "Disabled"

    class PatientIdSource(models.TextChoices):
        TOKEN = "token", "Token response `patient`"
        ID_TOKEN = "id_token", "`fhirUser` claim of the id_token"
        USERINFO = "userinfo", "UserInfo endpoint"
        PATIENT_SEARCH = "patient_search", "GET Patient on the FHIR base"

    slug = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=255)
    aliases = models.JSONField(default=list, blank=True)
    brand = models.CharField(max_length=255, blank=True)
    lines_of_business = models.JSONField(default=list, blank=True)
    states = models.JSONField(default=list, blank=True)

    fhir_base_url = models.URLField(max_length=500, blank=True)
    authorize_url = models.URLField(max_length=500, blank=True)
    token_url = models.URLField(max_length=500, blank=True)
    revoke_url = models.URLField(max_length=500, blank=True)
    introspect_url = models.URLField(max_length=500, blank=True)
    scopes = models.CharField(max_length=1000, blank=True)

    client_id = models.CharField(max_length=255, blank=True)
    client_secret = EncryptedTextField(blank=True, default="")
    token_endpoint_auth_method = models.CharField(
        max_length=30,
        choices=ClientAuthMethod.choices,
        default=ClientAuthMethod.CLIENT_SECRET_BASIC,
    )
    # private_key_jwt: our signing key (PEM, PKCS#8) and the `kid` the payer knows it by.
    client_private_key = EncryptedTextField(blank=True, default="")
    client_key_id = models.CharField(max_length=255, blank=True)
    token_endpoint_auth_signing_alg = models.CharField(
        max_length=10, choices=SigningAlg.choices, default=SigningAlg.RS384
    )
    supports_pkce = models.BooleanField(default=True)
    supports_refresh = models.BooleanField(default=False)
    max_authorization_days = models.PositiveIntegerField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    authorize_params = models.JSONField(default=dict, blank=True)
    token_params = models.JSONField(default=dict, blank=True)
    patient_id_source = models.CharField(
        max_length=20, choices=PatientIdSource.choices, default=PatientIdSource.TOKEN
    )
    quirks = models.JSONField(default=dict, blank=True)

    class PublishedStatus(models.TextChoices):
        """The API's status as its publisher states it (CMS's SMA directory)."""

        ACTIVE = "active", "Active"
        IN_DEVELOPMENT = "in_development", "In development"
        NOT_YET_STARTED = "not_yet_started", "Not yet started"
        OFFLINE = "offline", "Offline"

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_CONNECTED)
    is_sandbox = models.BooleanField(default=False)
    source = models.CharField(max_length=500, blank=True)
    # Every endpoint known for this plan, its base first: {"url", "key", "kind"
    # (patient_access, formulary, provider_directory, sandbox), "sources", ...}.
    endpoints = models.JSONField(default=list, blank=True)
    published_status = models.CharField(max_length=20, choices=PublishedStatus.choices, blank=True)
    go_live_date = models.DateField(null=True, blank=True)
    # No source says this base is a Patient Access API (e.g. a plan tenant on an EHR
    # vendor's consumer host): patients never see it until an admin verifies it.
    patient_access_unconfirmed = models.BooleanField(default=False)
    patient_access_verified_at = models.DateTimeField(null=True, blank=True)

    last_discovery_at = models.DateTimeField(null=True, blank=True)
    last_discovery_ok = models.BooleanField(null=True)
    last_discovery_error = models.TextField(blank=True)
    discovery_document = models.JSONField(null=True, blank=True)
    # Consecutive failed discoveries: the periodic task backs off on them.
    discovery_failures = models.PositiveIntegerField(default=0)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    sync_success_count = models.PositiveIntegerField(default=0)
    sync_failure_count = models.PositiveIntegerField(default=0)
    # Kept by `record_sync`: the last sync that succeeded, and failures since then.
    last_sync_success_at = models.DateTimeField(null=True, blank=True)
    sync_failures_in_a_row = models.PositiveIntegerField(default=0)

    # Lower-cased name, brand, aliases and states, kept in step by save(); the
    # picker matches on it through a trigram index (see directory.py).
    search_text = models.TextField(blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            GinIndex(name="payer_search_trgm", fields=["search_text"], opclasses=["gin_trgm_ops"]),
            GinIndex(name="payer_states_gin", fields=["states"]),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.search_text = self.build_search_text()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "search_text"}
        super().save(*args, **kwargs)

    def build_search_text(self) -> str:
        parts = [self.name, self.brand, *self.aliases, *self.states]
        return " ".join(p.strip().lower() for p in parts if p and p.strip())

    @property
    def own_origins(self) -> set[str]:
        """Origins this payer's tokens may be sent to: its FHIR base and OAuth endpoints."""
        urls = (
            self.fhir_base_url,
            self.authorize_url,
            self.token_url,
            self.revoke_url,
            self.introspect_url,
        )
        return {o for o in map(origin_of, urls) if o}

    @property
    def is_offered(self) -> bool:
        """Shown to patients at all: not an unconfirmed API an admin has yet to verify."""
        return not self.patient_access_unconfirmed or self.patient_access_verified_at is not None

    @property
    def is_live(self) -> bool:
        """Not offline or before go-live by its publisher's word."""
        if self.published_status and self.published_status != self.PublishedStatus.ACTIVE:
            return False
        return self.go_live_date is None or self.go_live_date <= date.today()

    @property
    def availability_note(self) -> str:
        """Why a plan is not yet available, as its publisher says ("" when nothing to say)."""
        if self.is_live:
            return ""
        if self.published_status == self.PublishedStatus.OFFLINE:
            return "Offline"  # its go-live date is when it first went live: no news
        label = self.get_published_status_display() if self.published_status else "Not live"
        when = f", planned go-live {self.go_live_date:%b %-d, %Y}" if self.go_live_date else ""
        return f"{label}{when}"

    @property
    def is_selectable(self) -> bool:
        return self.status == self.Status.ACTIVE and self.is_offered and self.is_live

    @property
    def lines_of_business_display(self) -> str:
        labels = dict(LINE_OF_BUSINESS_LABELS)
        return ", ".join(labels.get(lob, lob) for lob in self.lines_of_business)

    @property
    def success_rate(self) -> float | None:
        total = self.sync_success_count + self.sync_failure_count
        return None if total == 0 else self.sync_success_count / total

    @classmethod
    def record_sync(cls, payer_id: int, ok: bool) -> None:
        """One finished sync of this payer (the ETL calls it): counts, last sync, streak."""
        now = timezone.now()
        if ok:
            changes = {
                "sync_success_count": F("sync_success_count") + 1,
                "last_sync_success_at": now,
                "sync_failures_in_a_row": 0,
            }
        else:
            changes = {
                "sync_failure_count": F("sync_failure_count") + 1,
                "sync_failures_in_a_row": F("sync_failures_in_a_row") + 1,
            }
        cls.objects.filter(pk=payer_id).update(last_sync_at=now, **changes)

    @property
    def last_successful_sync_at(self):
        """When a sync last succeeded (with counts alone: the last sync, if none failed)."""
        if self.last_sync_success_at or self.sync_failure_count:
            return self.last_sync_success_at
        return self.last_sync_at

    @property
    def sync_failing(self) -> bool:
        """Syncs keep failing: several in a row (or, from counts alone, mostly and often)."""
        if self.sync_failures_in_a_row >= SYNC_FAILURES_FLAGGED:
            return True
        counted_only = self.last_sync_success_at is None and self.sync_failures_in_a_row == 0
        return (
            counted_only
            and self.sync_failure_count >= SYNC_FAILURES_FLAGGED
            and (self.success_rate or 0) < 0.5
        )

    @classmethod
    def sync_failing_q(cls) -> Q:
        """`sync_failing` as a query."""
        counted_only = Q(last_sync_success_at__isnull=True, sync_failures_in_a_row=0)
        mostly_failing = Q(sync_failure_count__gte=SYNC_FAILURES_FLAGGED) & Q(
            sync_failure_count__gt=F("sync_success_count")
        )
        return Q(sync_failures_in_a_row__gte=SYNC_FAILURES_FLAGGED) | (
            counted_only & mostly_failing
        )
