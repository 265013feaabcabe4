"""Admin for the payer directory: search, filters, health at a glance, actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from payers.models import LINE_OF_BUSINESS_LABELS, Payer
from payers.onboarding import NotSmartServer, add_payer
from payers.states import STATE_CODES
from payers.tasks import discover_payer


class LineOfBusinessFilter(admin.SimpleListFilter):
    title = "line of business"
    parameter_name = "lob"

    def lookups(self, request, model_admin):
        return LINE_OF_BUSINESS_LABELS

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(lines_of_business__contains=[self.value()])
        return queryset


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [(code, code) for code in sorted(STATE_CODES)]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(states__contains=[self.value()])
        return queryset


class HealthFilter(admin.SimpleListFilter):
    title = "discovery health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [("ok", "Healthy"), ("failing", "Failing"), ("unknown", "Never checked")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "ok":
            return queryset.filter(last_discovery_ok=True)
        if value == "failing":
            return queryset.filter(last_discovery_ok=False)
        if value == "unknown":
            return queryset.filter(last_discovery_ok__isnull=True)
        return queryset


class AddFromBaseForm(forms.Form):
    """The admin's `manage.py add_payer`: a base URL, and what discovery cannot know."""

    fhir_base = forms.URLField(label="FHIR base URL", max_length=500, assume_scheme="https")
    name = forms.CharField(required=False, help_text="Default: the server's own name.")
    client_id = forms.CharField(required=False, label="Our client id at the payer")
    client_secret = forms.CharField(
        required=False,
        label="Our client secret at the payer",
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted; never shown again.",
    )
    scopes = forms.CharField(required=False, help_text="Default: from discovery.")


class SyncHealthFilter(admin.SimpleListFilter):
    title = "sync health"
    parameter_name = "syncs"

    def lookups(self, request, model_admin):
        return [("failing", "Failing"), ("never", "Never synced")]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(Payer.sync_failing_q())
        if self.value() == "never":
            return queryset.filter(last_sync_at__isnull=True)
        return queryset


class WriteOnlyTextarea(forms.Textarea):
    """Never renders the stored value: a secret goes in, nothing comes back out."""

    def format_value(self, value):
        return ""


class PayerAdminForm(forms.ModelForm):
    """Our client secret and private key at the payer are write-only here.

    A blank field keeps what is stored, so editing other fields of a payer never
    needs (or shows) the secret.
    """

    SECRET_FIELDS = ("client_secret", "client_private_key")

    class Meta:
        model = Payer
        fields = "__all__"  # noqa: DJ007 - the admin edits the whole directory entry
        widgets = {
            "client_secret": forms.PasswordInput(render_value=False),
            "client_private_key": WriteOnlyTextarea(attrs={"rows": 4}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in self.SECRET_FIELDS:
            stored = bool(self.instance.pk and getattr(self.instance, name))
            self.fields[name].required = False
            self.fields[name].help_text = (
                "Stored (encrypted). Leave blank to keep it; type a new value to replace it."
                if stored
                else "Not set. Stored encrypted; never shown again."
            )

    def clean(self):
        cleaned = super().clean()
        for name in self.SECRET_FIELDS:
            if not cleaned.get(name) and self.instance.pk:
                cleaned[name] = getattr(self.instance, name)
        unverified = cleaned.get("patient_access_unconfirmed") and not cleaned.get(
            "patient_access_verified_at"
        )
        if cleaned.get("status") == Payer.Status.ACTIVE and unverified:
            # Patients would be sent to an API no source calls Patient Access.
            self.add_error(
                "status",
                "No source says this is a Patient Access API: verify it first "
                "(set “Patient access verified at”, or the list action).",
            )
        return cleaned


@admin.register(Payer)
class PayerAdmin(admin.ModelAdmin):
    form = PayerAdminForm
    list_display = (
        "name",
        "slug",
        "status",
        "is_sandbox",
        "lines_of_business_display",
        "states_display",
        "availability",
        "health",
        "last_discovery_at",
        "sync_counts",
    )
    list_filter = (
        "status",
        LineOfBusinessFilter,
        StateFilter,
        HealthFilter,
        SyncHealthFilter,
        "is_sandbox",
        "published_status",
        "patient_access_unconfirmed",
    )
    search_fields = ("search_text", "slug", "fhir_base_url")
    readonly_fields = (
        "source",
        "endpoints_table",
        "last_discovery_at",
        "last_discovery_ok",
        "last_discovery_error",
        "discovery_document",
        "discovery_failures",
        "last_sync_at",
        "last_sync_success_at",
        "sync_success_count",
        "sync_failure_count",
        "sync_failures_in_a_row",
        "created_at",
        "updated_at",
    )
    actions = ("rediscover", "disable", "verify_patient_access")
    list_per_page = 100
    change_list_template = "admin/payers/payer/change_list.html"

    def get_urls(self):
        extra = [
            path(
                "add-from-base/",
                self.admin_site.admin_view(self.add_from_base),
                name="payers_payer_add_from_base",
            )
        ]
        return extra + super().get_urls()

    def add_from_base(self, request):
        """Discover a payer from its FHIR base URL and create or update it (add permission)."""
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = AddFromBaseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                result = add_payer(**form.cleaned_data)
            except NotSmartServer as exc:
                form.add_error("fhir_base", str(exc))
            else:
                verb = "Created" if result.created else "Updated"
                found = ", ".join(k for k in result.found if k != "fhir_base_url")
                self.message_user(
                    request, f"{verb} {result.payer.name}; discovery filled: {found}."
                )
                if result.to_do:
                    self.message_user(
                        request, "Still to set: " + "; ".join(result.to_do), messages.WARNING
                    )
                return redirect(reverse("admin:payers_payer_change", args=[result.payer.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Add payer from FHIR base URL",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payers/payer/add_from_base.html", context)

    @admin.display(description="states")
    def states_display(self, payer: Payer) -> str:
        return ", ".join(payer.states[:6]) + (" …" if len(payer.states) > 6 else "")

    @admin.display(description="endpoints (base first)")
    def endpoints_table(self, payer: Payer) -> str:
        """Each known endpoint with its kind and the sources that list it."""
        if not payer.endpoints:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    e.get("url", ""),
                    e.get("kind", ""),
                    "yes" if e.get("patient_access_stated") else "no",
                    "; ".join(e.get("sources", [])),
                )
                for e in payer.endpoints
            ),
        )
        return format_html(
            "<table><tr><th>URL</th><th>kind</th><th>source says Patient Access</th>"
            "<th>sources</th></tr>{}</table>",
            rows,
        )

    @admin.display(description="for patients")
    def availability(self, payer: Payer) -> str:
        if not payer.is_offered:
            return "unconfirmed: verify it is a Patient Access API"
        return payer.availability_note or ("offered" if payer.is_selectable else "listed")

    @admin.display(description="health")
    def health(self, payer: Payer) -> str:
        if payer.last_discovery_ok is None:
            return "never checked"
        if payer.last_discovery_ok:
            return format_html('<span style="color:#1a7f37">● ok</span>')
        return format_html(
            '<span style="color:#b42318" title="{}">● failing</span> {}',
            payer.last_discovery_error,
            payer.last_discovery_error[:80],
        )

    @admin.display(description="syncs")
    def sync_counts(self, payer: Payer) -> str:
        rate = payer.success_rate
        if rate is None:
            return "never synced"
        counts = f"{rate:.0%} ok ({payer.sync_success_count}/{payer.sync_failure_count})"
        last = payer.last_successful_sync_at
        if last:
            since = f", last ok {last:%Y-%m-%d %H:%M}"
        else:  # counts without a recorded success time: say only what is known
            since = "" if payer.sync_success_count else ", never ok"
        if payer.sync_failing:
            return format_html(
                '<span style="color:#b42318">● syncs failing</span> {}{}', counts, since
            )
        return f"{counts}{since}"

    def changelist_view(self, request, extra_context=None):
        """Flag payers whose syncs keep failing at the top of the list."""
        failing = Payer.objects.filter(Payer.sync_failing_q()).exclude(status=Payer.Status.DISABLED)
        names = list(failing.values_list("name", flat=True)[:10])
        if names and request.method == "GET":
            more = failing.count() - len(names)
            self.message_user(
                request,
                f"Syncs keep failing for: {', '.join(names)}{f' and {more} more' if more else ''}"
                " (filter: sync health → Failing).",
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)

    @admin.action(description="Rediscover SMART endpoints (in the background)")
    def rediscover(self, request, queryset: QuerySet[Payer]) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        for payer_id in ids:
            discover_payer.delay(payer_id)
        self.message_user(request, f"Discovery queued for {len(ids)} payer(s).", messages.SUCCESS)

    @admin.action(description="Verify as a Patient Access API (offer to patients)")
    def verify_patient_access(self, request, queryset: QuerySet[Payer]) -> None:
        count = queryset.filter(patient_access_verified_at__isnull=True).update(
            patient_access_verified_at=timezone.now()
        )
        self.message_user(request, f"Verified {count} payer(s).", messages.SUCCESS)

    @admin.action(description="Disable (hide from the picker)")
    def disable(self, request, queryset: QuerySet[Payer]) -> None:
        count = queryset.update(status=Payer.Status.DISABLED)
        self.message_user(request, f"Disabled {count} payer(s).", messages.SUCCESS)
