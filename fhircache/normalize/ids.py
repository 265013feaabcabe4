"""Step: cache ids. Payer ids are kept when they are valid FHIR ids, else mapped.

FHIR R4 §2.26.0.1 (datatypes, `id`): `[A-Za-z0-9\\-\\.]{1,64}`. The mapping is a
pure function of the payer's id, so a re-sync lands on the same row and every
reference to the resource can be rewritten without looking anything up. The
rule is `consent.patient_ids.served_id`, the same one that gives the token's
`patient`, so the consent's Patient is served under the id its token names.
"""

from __future__ import annotations

import hashlib

from consent.patient_ids import MAPPED_PREFIX, VALID_ID, is_valid_id
from consent.patient_ids import served_id as cache_id

__all__ = ["MAPPED_PREFIX", "VALID_ID", "cache_id", "content_id", "is_valid_id"]


def content_id(content: bytes) -> str:
    """An id for a resource the payer sent without one (content-addressed)."""
    return MAPPED_PREFIX + hashlib.sha256(content).hexdigest()[:40]
