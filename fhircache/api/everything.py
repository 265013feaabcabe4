"""`GET /fhir/Patient/{id}/$everything` (FHIR R4 Patient-everything).

The patient's compartment and everything it references, from
`fhircache.compartment` (one keyset query per page along the primary key, so
memory is bounded by `_count` whatever the size of the result), as a searchset
Bundle spliced from the stored bytes. Parameters: `_since` (last updated at or
after), `_type` (comma-separated types), `start` / `end` (care dates),
`_count` (default 50, at most 1000). Paging links are signed and bound to the
consent, the patient and the parameters (`paging`); a tampered or foreign link
is a 400. Only types the token's scopes may read are returned. The id must be
the consent's patient (any other is a 404, as for a read).
"""

from __future__ import annotations

import re
from datetime import datetime

from django.http import HttpRequest, HttpResponse

from fhircache import repository
from fhircache.api import bundle, paging
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError, invalid_parameter, issue
from fhircache.api.query import DEFAULT_COUNT, MAX_COUNT, value_range
from fhircache.api.search import fhir_base, known_type
from fhircache.compartment import EverythingQuery, everything_page

_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
# a type no scope names: readable only under a `patient/*` scope
_ANY = "NoSuchResourceType"
KNOWN = frozenset({"_since", "_type", "start", "end", "_count"})


def _range(name: str, value: str) -> tuple[str, str]:
    found = value_range(value)
    if found is None:
        raise invalid_parameter(name, f"{value!r} is not a FHIR date or dateTime")
    return found


def parse(
    patient_id: str, pairs: list[tuple[str, str]], *, lenient: bool = False
) -> tuple[EverythingQuery, int, list[str]]:
    """(query, page size, notes) from the operation's parameters (pure; 400 on bad input)."""
    types: tuple[str, ...] = ()
    since = start = end = None
    count = DEFAULT_COUNT
    notes: list[str] = []
    for name, value in pairs:
        if name not in KNOWN:
            if lenient:
                notes.append(f"Ignored: parameter {name!r} is not supported by $everything.")
                continue
            raise invalid_parameter(name, "is not a parameter of Patient/$everything")
        if name == "_type":
            wanted = tuple(t.strip() for t in value.split(",") if t.strip())
            bad = [t for t in wanted if not _TYPE.match(t) or not known_type(t)]
            if bad or not wanted:
                raise invalid_parameter(name, f"{', '.join(bad) or value!r}: not resource types")
            types = tuple(dict.fromkeys((*types, *wanted)))
        elif name == "_since":
            low, _ = _range(name, value)
            since = datetime.fromisoformat(low.replace("Z", "+00:00"))
        elif name == "start":
            start = _range(name, value)[0]
        elif name == "end":
            end = _range(name, value)[1]
        elif name == "_count":
            if not value.isdigit() or int(value) == 0:
                raise invalid_parameter(name, f"{value!r} is not a positive integer")
            count = int(value)
            if count > MAX_COUNT:
                notes.append(f"_count lowered from {value} to the maximum, {MAX_COUNT}.")
                count = MAX_COUNT
    if start is not None and end is not None and start > end:
        raise invalid_parameter("start", "is after end")
    return EverythingQuery(patient_id, types, since, start, end), count, notes


class Everything(FhirView):
    interaction = "$everything"

    def get(self, request: HttpRequest, resource_id: str) -> HttpResponse:
        consent = self.caller.consent
        self.record.resource_type = "Patient"
        self.caller.require("Patient", "r")
        if not consent.patient_id or resource_id != consent.patient_id:
            raise FhirError(404, "not-found", f"Patient/{resource_id} is not known.")
        operation = f"Patient/{resource_id}/$everything"
        pairs = [
            (k, v) for k, vs in request.GET.lists() for v in vs if k not in ("_format", "_pretty")
        ]
        cursor = dict(pairs).get(paging.PARAMETER)
        if cursor is not None:
            link = paging.decode(cursor, consent.pk, operation)
        else:
            lenient = "handling=lenient" in request.headers.get("Prefer", "").replace(" ", "")
            link = paging.PageLink(pairs, None, False, lenient)
        query, count, notes = parse(resource_id, link.pairs, lenient=link.lenient)
        query = self._readable(query)
        page = everything_page(consent, query, after=link.position, limit=count)
        base = fhir_base()
        links = [("self", f"{base}/{operation}")]
        if page.next_after is not None:
            after = paging.PageLink(link.pairs, page.next_after, False, link.lenient)
            links.append(("next", paging.url(base, operation, consent.pk, after)))
        entries = [
            bundle.entry(base, r.resource_type, r.resource_id, r.content, "match")
            for r in page.rows
        ]
        issues = [
            *self.warnings,
            *(issue("informational", n, severity="information") for n in notes),
        ]
        if issues:
            entries.append(bundle.outcome_entry(issues))
        self.record.count = len(page.rows)
        return self.respond(bundle.searchset(None, links, entries))

    def _readable(self, query: EverythingQuery) -> EverythingQuery:
        """The query narrowed to the types the token may read (v2 `r`, v1 `.read`)."""
        if self.caller.may(_ANY, "r"):  # a wildcard scope: every type
            return query
        types = query.types or tuple(repository.counts(self.caller.consent))
        allowed = tuple(t for t in types if self.caller.may(t, "r"))
        if allowed == types and not query.types:
            return query
        return EverythingQuery(
            query.patient_id, allowed or ("-",), query.since, query.start, query.end
        )


def _announce() -> None:
    from fhircache.api.metadata import OPERATIONS

    row = ("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything", ("Patient",))
    if row not in OPERATIONS:
        OPERATIONS.append(row)


_announce()
