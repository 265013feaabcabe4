"""Admin pages that show PHI (quarantined resources, stored outcomes) audit who looked.

`PHIViewAudited` is a ModelAdmin mixin for models with a `consent` foreign key:
opening one object writes `admin_phi_viewed` on that consent's timeline, and a
list page writes it on the timeline of every consent whose rows it showed — the
record outlives the purge, like the rest of the timeline.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from consent.models import ConsentEvent


class PHIViewAudited(admin.ModelAdmin):
    phi_label = "resource"

    def change_view(self, request: HttpRequest, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200:
            obj = self.get_object(request, object_id)
            if obj is not None:
                self._record(request, [obj.consent_id], object_id=str(object_id))
        return response

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            consents = {row.consent_id for row in changelist.result_list}
            self._record(request, sorted(consents, key=str), rows=len(changelist.result_list))
        return response

    def _record(self, request: HttpRequest, consent_ids, **detail) -> None:
        who = request.user.get_username() if request.user.is_authenticated else ""
        ConsentEvent.objects.bulk_create(
            ConsentEvent(
                consent_id=consent_id,
                kind="admin_phi_viewed",
                detail={"user": who, "view": self.phi_label, **detail},
            )
            for consent_id in consent_ids
        )
