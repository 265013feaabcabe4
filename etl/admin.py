"""Admin for sync jobs: filters by state, payer and app; per-type counts; Resync now, Cancel."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.utils.html import format_html, format_html_join

from etl import jobs
from etl.models import SyncJob

COUNT_COLUMNS = ("fetched", "stored", "created", "updated", "unchanged", "quarantined", "flagged")


@admin.register(SyncJob)
class SyncJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "consent_id",
        "payer",
        "app",
        "kind",
        "state",
        "created_at",
        "duration",
        "resources",
        "pages",
        "throttled",
        "short_error",
    )
    list_filter = ("state", "kind", "payer", "app")
    search_fields = ("consent__id", "payer__name", "payer__slug", "app__name", "last_error")
    list_select_related = ("payer", "app")
    date_hierarchy = "created_at"
    actions = ("resync_now", "cancel_jobs")
    readonly_fields = [f.name for f in SyncJob._meta.fields] + ["per_type_counts"]
    fieldsets = (
        (None, {"fields": ("consent", "payer", "app", "kind", "reason", "state", "last_error")}),
        ("Counts", {"fields": ("per_type_counts", "totals", "dangling")}),
        (
            "Traffic",
            {"fields": ("pages", "requests", "retries", "throttled", "bytes", "duration_ms")},
        ),
        (
            "Timing",
            {
                "fields": (
                    "created_at",
                    "started_at",
                    "finished_at",
                    "heartbeat_at",
                    "next_attempt_at",
                    "attempts",
                    "since",
                    "run_id",
                    "cancel_requested",
                )
            },
        ),
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="duration")
    def duration(self, job: SyncJob) -> str:
        return f"{job.duration_ms / 1000:.1f} s" if job.finished_at else "-"

    @admin.display(description="resources")
    def resources(self, job: SyncJob) -> int:
        return job.total_resources

    @admin.display(description="last error")
    def short_error(self, job: SyncJob) -> str:
        return job.last_error[:120]

    @admin.display(description="per resource type")
    def per_type_counts(self, job: SyncJob) -> str:
        counts = job.counts or {}
        if not counts:
            return "-"
        head = format_html_join("", "<th>{}</th>", ((c,) for c in ("type", *COUNT_COLUMNS)))
        rows = format_html_join(
            "",
            "<tr><td>{}</td>{}</tr>",
            (
                (
                    rtype,
                    format_html_join(
                        "", "<td>{}</td>", ((counts[rtype].get(c, ""),) for c in COUNT_COLUMNS)
                    ),
                )
                for rtype in sorted(counts)
            ),
        )
        return format_html("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows)

    @admin.action(description="Resync now")
    def resync_now(self, request, queryset: QuerySet[SyncJob]) -> None:
        started = 0
        for job in queryset.select_related("consent"):
            if job.consent.status in jobs.OPEN_CONSENT:
                jobs.request_sync(job.consent, reason="admin")
                started += 1
        self.message_user(request, f"Resync requested for {started} consent(s).", messages.SUCCESS)

    @admin.action(description="Cancel")
    def cancel_jobs(self, request, queryset: QuerySet[SyncJob]) -> None:
        cancelled = sum(jobs.cancel(job) for job in queryset)
        self.message_user(request, f"{cancelled} job(s) cancelled.", messages.SUCCESS)
