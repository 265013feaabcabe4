"""The one patient id: what the payer calls the patient, as our FHIR API serves it.

The token response's `patient`, the id_token's `fhirUser`, `Consent.patient_id`
and the id of the consent's cached Patient are the same string. Payer ids are
kept when they are valid FHIR ids and mapped deterministically otherwise, by
the one rule here: the cache (`fhircache.normalize.ids`, which imports it)
applies it to every resource id and reference, and the consent flow to the
patient's id, so the consent names its Patient before any data is synced.
The payer's own id stays on `Consent.payer_patient_id` and in each resource's
provenance extension (`originalId`).
"""

from __future__ import annotations

import hashlib
import re

# FHIR R4 §2.26.0.1 (datatypes, `id`)
VALID_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAPPED_PREFIX = "pbx-"


def is_valid_id(value: str) -> bool:
    return VALID_ID.fullmatch(value) is not None


def served_id(payer_id: str) -> str:
    """The id we serve for a payer id: itself when valid, else a stable digest.

    A valid id that starts with our prefix is mapped too, so no payer id can
    be kept as the very id another payer id maps to (the mapping is one to one).
    """
    if is_valid_id(payer_id) and not payer_id.startswith(MAPPED_PREFIX):
        return payer_id
    return MAPPED_PREFIX + hashlib.sha256(payer_id.encode()).hexdigest()[:40]
