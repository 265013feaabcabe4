"""The payer directory."""

from __future__ import annotations

from django.db import models


class Payer(models.Model):
    """A health plan's Patient Access API, as data (endpoints, quirks, health)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        NOT_CONNECTED = "not_connected", "Not yet connected"
        DISABLED = "disabled", "Disabled"

    slug = models.SlugField(max_length=120, unique=True)
    name = models.CharField(max_length=255)
    fhir_base_url = models.URLField(max_length=500)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NOT_CONNECTED)
    is_sandbox = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
