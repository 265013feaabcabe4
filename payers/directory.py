"""The payer picker's search: by name, alias, brand or state, fast with thousands.

Matching runs on `Payer.search_text` (lower-cased name, brand, aliases and
states) with `LIKE '%term%'`, which PostgreSQL answers from the GIN trigram
index `payer_search_trgm` (pg_trgm); a state (code or full name) matches
`states` through its GIN index. Every term must match; disabled payers never
show, nor do APIs no source calls Patient Access until an admin verifies them
(`Payer.is_offered`); active payers come first.
"""

from __future__ import annotations

import re

from django.db.models import QuerySet

from payers.models import Payer
from payers.states import STATE_CODES, STATE_NAMES

# Only what the picker shows: skips decrypting secrets and loading documents.
PICKER_FIELDS = (
    "slug",
    "name",
    "brand",
    "aliases",
    "states",
    "lines_of_business",
    "status",
    "is_sandbox",
    "fhir_base_url",
    "published_status",
    "go_live_date",
    "patient_access_unconfirmed",
    "patient_access_verified_at",
    "last_discovery_ok",
    "last_sync_at",
    "last_sync_success_at",
    "sync_success_count",
    "sync_failure_count",
    "sync_failures_in_a_row",
)
_STATE_PATTERN = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, STATE_NAMES), key=len, reverse=True)) + r")\b"
)


# A patient types a plan name; anything longer is not a name. Control characters
# (NUL above all, which PostgreSQL refuses in text) can never match and are dropped.
MAX_QUERY_LENGTH = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _terms(query: str) -> list[tuple[str, str | None]]:
    """(text, state code or None) per term; multi-word state names become one term."""
    lowered = " ".join(_CONTROL.sub(" ", query[:MAX_QUERY_LENGTH]).lower().split())
    terms: list[tuple[str, str | None]] = []
    for match in _STATE_PATTERN.finditer(lowered):
        terms.append((match.group(1), STATE_NAMES[match.group(1)]))
    rest = _STATE_PATTERN.sub(" ", lowered)
    for word in rest.split():
        code = word.upper() if len(word) == 2 and word.upper() in STATE_CODES else None
        terms.append((word, code))
    return terms


def search_queryset(query: str, *, sandbox: bool | None = None) -> QuerySet[Payer]:
    payers = Payer.objects.exclude(status=Payer.Status.DISABLED).exclude(
        patient_access_unconfirmed=True, patient_access_verified_at__isnull=True
    )
    if sandbox is not None:
        payers = payers.filter(is_sandbox=sandbox)
    for text, code in _terms(query):
        if code:
            # A state means the state ("TX" is not "tx" inside a word, "kansas" is not
            # Arkansas); names that spell a state out carry it in `states` (importer).
            payers = payers.filter(states__contains=[code])
        else:
            payers = payers.filter(search_text__contains=text)
    # Active first: with disabled payers excluded, "active" < "not_connected" in
    # plain text order, so the status column sorts them without a CASE.
    return payers.order_by("status", "name", "slug")


def search_payers(query: str, *, sandbox: bool | None = None, limit: int = 50) -> list[Payer]:
    """Payers matching `query` (all terms), disabled ones excluded, active first."""
    return list(search_queryset(query, sandbox=sandbox).only(*PICKER_FIELDS)[:limit])
