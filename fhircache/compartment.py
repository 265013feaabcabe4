# ruff: noqa: S608 - SQL is assembled only from this module's constant fragments;
# every value is a bound parameter.
"""`Patient/$everything` over the store: the patient's compartment and what it references.

A repository query like those of `fhircache.repository` (scoped to one consent
by its first condition; there is no unscoped path), in a module of its own so
the operation's rules sit in one place:

- the compartment: the Patient row itself and every row holding a local
  reference to it (through any element: `links`, the same array `_include:*`
  uses), optionally narrowed to care dates overlapping [`start`, `end`]
  (rows without any indexed date are kept: the spec's range is about care
  dates, and a Coverage or a Patient has none);
- plus every row those reference (practitioners, organizations, coverage, ...);
- filtered by `_type` and `_since` (`meta.lastUpdated` at or after it);
- ordered by (type, id) and keyset-paged along the primary key, so each page
  is one bounded query and memory stays flat in the size of the whole result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from fhircache import repository
from fhircache.search_sql import holds_nul


@dataclass(frozen=True)
class EverythingQuery:
    patient_id: str
    types: tuple[str, ...] = ()  # `_type`; empty = every type
    since: datetime | None = None  # `_since`
    start: str | None = None  # low end of `start`, index format (fhircache.indexing)
    end: str | None = None  # high end of `end`, index format


@dataclass(frozen=True)
class EverythingPage:
    rows: list[repository.StoredResource]
    next_after: tuple[str, str] | None  # (type, id) of the last row when more follow


def _care_dates(query: EverythingQuery, params: list) -> str:
    if query.start is None and query.end is None:
        return "TRUE"
    params.extend([query.start or "0", query.end or "9"])
    return (
        "(cardinality(r.dates) = 0 OR EXISTS (SELECT 1 FROM unnest(r.dates) d"
        " WHERE split_part(d, E'\\t', 3) >= %s AND split_part(d, E'\\t', 2) <= %s))"
    )


def everything_page(
    consent, query: EverythingQuery, *, after: Sequence[str] | None = None, limit: int = 50
) -> EverythingPage:
    """One page of the patient's `$everything`, after the (type, id) `after`."""
    if holds_nul((query.patient_id, *query.types, *(after or ()))):
        return EverythingPage([], None)
    consent_id = repository._consent_id(consent)
    patient = [query.patient_id, [f"Patient/{query.patient_id}"]]
    member = (
        "((r.resource_type = 'Patient' AND r.resource_id = %s) OR (r.links && %s::text[]"
        " AND {care}))"
    )
    params: list = [consent_id, *patient]
    inner = member.format(care=_care_dates(query, params))
    where = ["r.consent_id = %s"]
    params.append(consent_id)
    if query.types:
        where.append("r.resource_type = ANY(%s)")
        params.append(list(query.types))
    if query.since is not None:
        where.append("r.last_updated >= %s")
        params.append(query.since)
    if after is not None:
        where.append("(r.resource_type, r.resource_id) > (%s, %s)")
        params.extend(after)
    params.extend(patient)
    outer = member.format(care=_care_dates(query, params))
    params.append(limit + 1)
    # In key order along the primary key, stopping at the page's end; the set of
    # referenced keys is computed once per query (a hashed subplan), and only when
    # a row is not a compartment member itself.
    sql = f"""
WITH referenced AS (
    SELECT DISTINCT l FROM {repository.TABLE} r, unnest(r.links) l
    WHERE r.consent_id = %s AND {inner}
)
SELECT {repository._COLUMNS} FROM {repository.TABLE} r
WHERE {" AND ".join(where)}
    AND ({outer} OR r.resource_type || '/' || r.resource_id IN (SELECT l FROM referenced))
ORDER BY r.resource_type, r.resource_id
LIMIT %s
"""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    more = len(fetched) > limit
    rows = [repository._row(v) for v in fetched[:limit]]
    next_after = (rows[-1].resource_type, rows[-1].resource_id) if more and rows else None
    return EverythingPage(rows, next_after)
