"""Quarantined resources and the stored outcomes of flagged ones, for the admin
to inspect (read-only)."""

from __future__ import annotations

import orjson
from django.contrib import admin
from django.utils.html import format_html

from consent.admin_audit import PHIViewAudited
from fhircache.models import DataAccess, QuarantinedResource, StoredOutcome
from fhircache.normalize.parse import parse_exact


@admin.register(QuarantinedResource)
class QuarantinedResourceAdmin(PHIViewAudited):
    phi_label = "quarantined resource"
    list_display = ("resource_type", "source_id", "consent", "short_reason", "created_at")
    list_filter = ("resource_type",)
    search_fields = ("source_id", "reason", "consent__id")
    readonly_fields = (
        "consent",
        "resource_type",
        "source_id",
        "digest",
        "reason",
        "pretty_outcome",
        "pretty_content",
        "created_at",
    )
    exclude = ("outcome", "content")
    list_select_related = ("consent",)

    @admin.display(description="reason")
    def short_reason(self, obj: QuarantinedResource) -> str:
        return obj.reason[:120]

    @admin.display(description="OperationOutcome")
    def pretty_outcome(self, obj: QuarantinedResource) -> str:
        return format_html(
            "<pre>{}</pre>", orjson.dumps(obj.outcome, option=orjson.OPT_INDENT_2).decode()
        )

    @admin.display(description="resource as received")
    def pretty_content(self, obj: QuarantinedResource) -> str:
        try:  # numbers shown as received (100.00 stays 100.00)
            text = orjson.dumps(parse_exact(obj.content), option=orjson.OPT_INDENT_2).decode()
        except (ValueError, RecursionError, orjson.JSONEncodeError):
            text = obj.content
        return format_html("<pre>{}</pre>", text)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DataAccess)
class DataAccessAdmin(admin.ModelAdmin):
    """The FHIR API's data-access audit (read-only). The consent admin links here
    filtered to one consent (`?consent__id__exact=<id>`)."""

    list_display = (
        "at",
        "interaction",
        "resource_type",
        "result_count",
        "status",
        "app",
        "consent",
        "request_id",
        "duration_ms",
    )
    list_filter = ("interaction", "status", "resource_type", "app")
    search_fields = ("request_id", "consent__id")
    date_hierarchy = "at"
    list_select_related = ("app", "consent")
    show_full_result_count = False  # a count(*) of a large audit table on every page

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(StoredOutcome)
class StoredOutcomeAdmin(PHIViewAudited):
    """Resources served although structural validation failed, with their problems.

    Per consent: `?consent__id__exact=<consent id>` (or search by the consent id).
    """

    phi_label = "stored OperationOutcome"

    list_display = ("resource_type", "resource_id", "consent", "first_problem", "updated_at")
    list_filter = ("resource_type",)
    search_fields = ("resource_id", "consent__id")
    readonly_fields = ("consent", "resource_type", "resource_id", "pretty_outcome", "updated_at")
    exclude = ("outcome",)
    list_select_related = ("consent",)

    @admin.display(description="first problem")
    def first_problem(self, obj: StoredOutcome) -> str:
        issues = obj.outcome.get("issue") or [{}]
        where = (issues[0].get("expression") or [""])[0]
        return f"{where}: {issues[0].get('diagnostics', '')}"[:160] + (
            f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        )

    @admin.display(description="OperationOutcome")
    def pretty_outcome(self, obj: StoredOutcome) -> str:
        return format_html(
            "<pre>{}</pre>", orjson.dumps(obj.outcome, option=orjson.OPT_INDENT_2).decode()
        )

    def lookup_allowed(self, lookup: str, value: str, request=None) -> bool:
        return lookup == "consent__id__exact" or super().lookup_allowed(lookup, value, request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
