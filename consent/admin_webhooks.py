"""Admin: the webhook delivery log, with a "Redeliver" action."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from consent import webhooks
from consent.models import WebhookDelivery


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "event_type",
        "app",
        "consent_id",
        "state",
        "attempts",
        "last_status",
        "next_attempt_at",
    ]
    list_filter = ["state", "event_type", "app"]
    search_fields = ["id", "consent__id", "app__name", "app__client_id"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["redeliver"]

    @admin.action(description="Redeliver (send again, same webhook-id)")
    def redeliver(self, request, queryset) -> None:
        with transaction.atomic():
            for delivery in queryset:
                webhooks.redeliver(delivery)
        self.message_user(request, f"{queryset.count()} delivery(ies) queued again.")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
