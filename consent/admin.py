"""Admin: organizations, apps (rotate secret), consents (timeline, revoke, purge)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, format_html_join

from consent import lifecycle
from consent.admin_lifecycle import DETAILED_EVENTS, LifecycleFilter, queue_purges
from consent.models import App, Consent, ConsentEvent, Organization


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = ["name", "client_id", "mode", "consent_policy", "is_public", "is_active"]
    list_filter = ["mode", "consent_policy", "is_active", "organization"]
    search_fields = ["name", "client_id", "organization__name"]
    readonly_fields = ["client_id", "secret_rotated_at", "created_at"]
    actions = ["rotate_client_secret"]

    @admin.display(boolean=True, description="public client")
    def is_public(self, app: App) -> bool:
        return app.is_public

    @admin.action(description="Rotate client secret (shown once)")
    def rotate_client_secret(self, request, queryset) -> None:
        for app in queryset:
            if app.is_public:
                self.message_user(request, f"{app.name}: public client, no secret", messages.INFO)
                continue
            secret = app.set_new_client_secret()
            app.save(update_fields=["client_secret_hash", "secret_rotated_at"])
            self.message_user(
                request,
                f"{app.name}: new client secret {secret} — copy it now, it is not stored.",
                messages.WARNING,
            )


class ConsentEventInline(admin.TabularInline):
    model = ConsentEvent
    extra = 0
    can_delete = False
    readonly_fields = ["at", "kind", "detail"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Consent)
class ConsentAdmin(admin.ModelAdmin):
    list_display = ["id", "app", "payer", "status", "data_state", "granted_at", "expires_at"]
    list_filter = [LifecycleFilter, "status", "data_state", "app__mode", "payer", "app"]
    search_fields = ["id", "patient_id", "app__name", "app__client_id", "payer__name"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "id",
        "app",
        "payer",
        "patient_id",
        "status",
        "data_state",
        "scope",
        "policy",
        "consent_text_version",
        "granted_at",
        "expires_at",
        "ended_at",
        "end_reason",
        "created_at",
        "timeline",
        "data_accesses",
    ]
    exclude = ["receipt_nonce"]
    inlines = [ConsentEventInline]
    actions = ["revoke", "purge"]

    @admin.display(description="timeline")
    def timeline(self, consent: Consent) -> str:
        return format_html_join(
            "\n",
            "<div>{} — {} {}</div>",
            (
                (e.at, e.kind, e.detail if e.kind in DETAILED_EVENTS else "")
                for e in consent.events.all()
            ),
        )

    @admin.action(description="Purge ended consents now (retries a failed purge)")
    def purge(self, request, queryset) -> None:
        queued, skipped = queue_purges(queryset)
        self.message_user(request, f"{queued} purge(s) queued; {skipped} open consent(s) skipped.")

    @admin.display(description="data accesses")
    def data_accesses(self, consent: Consent) -> str:
        """Link to the FHIR API's audit filtered to this consent (fhircache owns it;
        reversed by name so consent does not import fhircache)."""
        try:
            url = reverse("admin:fhircache_dataaccess_changelist")
        except NoReverseMatch:
            return "-"
        return format_html(
            '<a href="{}?consent__id__exact={}">FHIR API accesses</a>', url, consent.pk
        )

    @admin.action(description="Revoke selected consents (ends every token now)")
    def revoke(self, request, queryset) -> None:
        ended = sum(
            lifecycle.end_consent(consent, reason=f"revoked_by_admin:{request.user.username}")
            for consent in queryset
            if consent.status not in Consent.ENDED and consent.status != Consent.Status.PENDING
        )
        self.message_user(request, f"{ended} consent(s) revoked.")

    def has_add_permission(self, request) -> bool:
        return False


from consent import admin_webhooks  # noqa: E402,F401 - the webhook delivery log
