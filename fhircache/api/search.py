"""Search: `GET /fhir/{type}` and `POST /fhir/{type}/_search` (FHIR R4 §3.1.1).

Thin: the parameters become a `query.SearchQuery` (400 for anything malformed,
unless `Prefer: handling=lenient`), one keyset page comes from
`repository.find`, includes from `includes.resolve`, and the Bundle is spliced
from the stored bytes. Paging links are opaque and signed (`paging`).
`GET /fhir/Patient` returns the consent's own patient.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from fhircache import criteria as c
from fhircache import repository
from fhircache.api import bundle, includes, paging
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError, issue
from fhircache.api.query import SearchQuery, parse
from fhircache.api.shaping import shape
from fhircache.searchparams import SEARCH_PARAMS

_FORM = "application/x-www-form-urlencoded"


@cache
def _fhir_type_names() -> frozenset[str]:
    """Lower-cased names of the R4 models fhir.resources ships (resource types among them)."""
    import fhir.resources.R4B as r4b

    return frozenset(p.stem for p in Path(r4b.__file__).parent.glob("*.py"))


def known_type(resource_type: str) -> bool:
    return resource_type in SEARCH_PARAMS or resource_type.lower() in _fhir_type_names()


def fhir_base() -> str:
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}/fhir"


def _lenient(request: HttpRequest) -> bool:
    prefer = request.headers.get("Prefer", "").replace(" ", "").lower()
    return "handling=lenient" in prefer.split(",") or "handling=lenient" in prefer.split(";")


def _pairs(items) -> list[tuple[str, str]]:
    return [(name, value) for name, values in items for value in values]


class Search(FhirView):
    interaction = "search-type"

    def get(self, request: HttpRequest, resource_type: str) -> HttpResponse:
        return self.search(request, resource_type, _pairs(request.GET.lists()))

    def post(self, request: HttpRequest, resource_type: str) -> HttpResponse:
        if request.body and request.content_type not in (_FORM, "multipart/form-data"):
            raise FhirError(415, "not-supported", f"POST _search takes {_FORM} parameters.")
        return self.search(
            request, resource_type, _pairs(request.GET.lists()) + _pairs(request.POST.lists())
        )

    def search(
        self, request: HttpRequest, resource_type: str, pairs: list[tuple[str, str]]
    ) -> HttpResponse:
        self.caller.require(resource_type, "s")
        if not known_type(resource_type):
            raise FhirError(404, "not-supported", f"{resource_type} is not a FHIR resource type.")
        consent = self.caller.consent
        cursor = dict(pairs).get(paging.PARAMETER)
        if cursor is not None:
            link = paging.decode(cursor, consent.pk, resource_type)
        else:
            link = paging.PageLink(
                [(k, v) for k, v in pairs if k not in ("_format", "_pretty")],
                None,
                False,
                _lenient(request),
            )
        query = parse(resource_type, link.pairs, lenient=link.lenient, base_url=fhir_base())
        criteria = list(query.criteria)
        if resource_type == "Patient" and consent.patient_id:
            criteria.append(c.Id((consent.patient_id,)))  # only the consent's own patient
        self_url = (
            f"{fhir_base()}/{resource_type}?{urlencode(pairs)}"
            if pairs
            else f"{fhir_base()}/{resource_type}"
        )
        if query.summary == "count" or query.count == 0:
            total = repository.count(consent, resource_type, criteria)
            body = bundle.searchset(total, [("self", self_url)], self._outcome(query, False))
            return self.respond(body)
        page = repository.find(
            consent,
            resource_type,
            criteria,
            query.sort,
            position=link.position,
            backward=link.backward,
            limit=query.count,
        )
        included, truncated = includes.resolve(
            consent,
            page.rows,
            query.includes,
            query.revincludes,
            lambda t: self.caller.may(t, "r"),
        )
        total = self._total(query, link, page, criteria)
        links = [("self", self_url), *self._links(consent.pk, resource_type, link, page)]
        entries = [
            bundle.entry(
                fhir_base(),
                row.resource_type,
                row.resource_id,
                shape(row.content, query.elements, query.summary),
                mode,
            )
            for rows, mode in ((page.rows, "match"), (included, "include"))
            for row in rows
        ]
        entries += self._outcome(query, truncated)
        self.record.count = len(page.rows) + len(included)
        return self.respond(bundle.searchset(total, links, entries))

    def _total(self, query: SearchQuery, link, page, criteria) -> int | None:
        """`Bundle.total`: counted for `_total=accurate|estimate` (an estimate is exact);
        without `_total`, given when it costs nothing (the first page holds every match)
        and left out otherwise, as Medplum does: counting every match of a long result
        costs more than serving its page."""
        if query.total == "none":
            return None
        if link.position is None and not page.more:
            return len(page.rows)
        if query.total is None:
            return None
        return repository.count(self.caller.consent, query.resource_type, criteria)

    def _links(self, consent_id, resource_type, link, page) -> list[tuple[str, str]]:
        if not page.rows:
            return []
        found = []
        later = page.more if not link.backward else True
        earlier = link.position is not None if not link.backward else page.more
        if earlier:
            before = paging.PageLink(link.pairs, page.positions[0], True, link.lenient)
            found.append(("previous", paging.url(fhir_base(), resource_type, consent_id, before)))
        if later:
            after = paging.PageLink(link.pairs, page.positions[-1], False, link.lenient)
            found.append(("next", paging.url(fhir_base(), resource_type, consent_id, after)))
        return found

    def _outcome(self, query: SearchQuery, truncated: bool) -> list[bytes]:
        issues = list(self.warnings)
        issues += [
            issue("not-supported", f"Ignored: {why}", severity="warning") for why in query.ignored
        ]
        issues += [issue("informational", note, severity="information") for note in query.notes]
        if truncated:
            issues.append(
                issue(
                    "too-costly",
                    f"Only the first {includes.MAX_INCLUDED} included resources are returned.",
                    severity="warning",
                )
            )
        return [bundle.outcome_entry(issues)] if issues else []
