"""`GET /fhir/{type}/{id}`: read one resource of the caller's consent (FHIR R4 §3.1.0.3.1).

The stored bytes are the body. `ETag: W/"version"` and `Last-Modified` come
from the row; `If-None-Match` with the current version answers 304. A resource
of another consent does not exist for this caller: 404, never 403.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.utils.http import http_date

from fhircache import repository
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError
from fhircache.api.query import parse
from fhircache.api.shaping import shape


def etag(version: int) -> str:
    return f'W/"{version}"'


def _matches(if_none_match: str, version: int) -> bool:
    wanted = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in wanted or f'"{version}"' in wanted


class Read(FhirView):
    interaction = "read"

    def get(self, request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
        self.caller.require(resource_type, "r")
        shaping = [(k, v) for k, v in request.GET.items() if k in ("_elements", "_summary")]
        query = parse(resource_type, shaping) if shaping else None
        row = repository.read(self.caller.consent, resource_type, resource_id)
        if row is None:
            raise FhirError(404, "not-found", f"{resource_type}/{resource_id} is not known.")
        headers = {
            "ETag": etag(row.version),
            "Last-Modified": http_date(row.last_updated.timestamp()),
        }
        if _matches(request.headers.get("If-None-Match", ""), row.version):
            response = HttpResponse(status=304)
            for name, value in headers.items():
                response[name] = value
            return response
        self.record.count = 1
        content = row.content
        if query is not None:
            content = shape(content, query.elements, query.summary)
        return self.respond(content, headers=headers)
