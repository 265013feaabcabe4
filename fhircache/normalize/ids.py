"""Step: cache ids. Payer ids are kept when they are valid FHIR ids, else mapped.

FHIR R4 §2.26.0.1 (datatypes, `id`): `[A-Za-z0-9\\-\\.]{1,64}`. The mapping is a
pure function of the payer's id, so a re-sync lands on the same row and every
reference to the resource can be rewritten without looking anything up.
"""

from __future__ import annotations

import hashlib
import re

VALID_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAPPED_PREFIX = "pbx-"


def is_valid_id(value: str) -> bool:
    return VALID_ID.fullmatch(value) is not None


def cache_id(source_id: str) -> str:
    """The cache's id for a payer id: itself when valid, else a stable digest.

    A valid id that starts with our prefix is mapped too, so no payer id can
    be kept as the very id another payer id maps to (the mapping is one to one).
    """
    if is_valid_id(source_id) and not source_id.startswith(MAPPED_PREFIX):
        return source_id
    return MAPPED_PREFIX + hashlib.sha256(source_id.encode()).hexdigest()[:40]


def content_id(content: bytes) -> str:
    """An id for a resource the payer sent without one (content-addressed)."""
    return MAPPED_PREFIX + hashlib.sha256(content).hexdigest()[:40]
