"""`POST /fhir/Patient/{id}/$expunge`: the app ends the consent and its data goes now.

With the patient's own token (its consent's patient id in the URL; any other
id is a 404, as for a read): `consent.lifecycle.end_consent(..., purge_now=True)`
ends the consent (every token and code dead, the app's `consent.revoked`
webhook) and purges the cache before answering. The token used is then
invalid like every other of the consent (401). Data-state answers do not apply:
a consent still syncing can be expunged.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from consent import lifecycle
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError, issue, operation_outcome

REASON = "expunged_by_app"


class Expunge(FhirView):
    interaction = "$expunge"
    serves_data = False
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        consent = self.caller.consent
        if not consent.patient_id or resource_id != consent.patient_id:
            raise FhirError(404, "not-found", f"Patient/{resource_id} is not known.")
        self.record.resource_type = "Patient"
        lifecycle.end_consent(consent, reason=REASON, purge_now=True)
        consent.refresh_from_db()
        return self.respond(
            operation_outcome(
                [
                    issue(
                        "informational",
                        "The consent has ended and its cached data was purged"
                        f" (data state: {consent.data_state}); its tokens are no longer valid.",
                        severity="information",
                    )
                ]
            )
        )


def _announce() -> None:
    from fhircache.api.metadata import OPERATIONS

    row = (
        "expunge",
        "https://payerbridge.dev/fhir/OperationDefinition/Patient-expunge",
        ("Patient",),
    )
    if row not in OPERATIONS:
        OPERATIONS.append(row)


_announce()
