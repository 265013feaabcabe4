"""The raw baseline of bench/api.py: bare Django views over the same table.

Each view answers with one raw SQL query and no authentication, validation,
audit or paging logic: the floor the FHIR API is measured against. This module
is the URLconf of the bench's own gunicorn (`bench.api_settings`): the
product's routes plus `/bench-baseline/...`. It is never part of the product's
URLs.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

FHIR_JSON = "application/fhir+json"
_BUNDLE_HEAD = b'{"resourceType":"Bundle","type":"searchset","entry":['
_PAGE = (
    "SELECT r.content, r.links FROM fhircache_resource r WHERE r.consent_id = %s"
    " AND r.resource_type = 'ExplanationOfBenefit' AND r.refs && %s::text[]"
    " ORDER BY r.resource_type, r.resource_id LIMIT %s"
)


def _bundle(contents) -> bytes:
    return _BUNDLE_HEAD + b",".join(b'{"resource":' + bytes(c) + b"}" for c in contents) + b"]}"


def read(request, consent: str, rtype: str, rid: str) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT content FROM fhircache_resource WHERE consent_id = %s"
            " AND resource_type = %s AND resource_id = %s",
            [consent, rtype, rid],
        )
        row = cursor.fetchone()
    if row is None:
        return HttpResponse(status=404)
    return HttpResponse(bytes(row[0]), content_type=FHIR_JSON)


def eob_search(request, consent: str) -> HttpResponse:
    patient = request.GET["patient"]
    count = int(request.GET.get("_count", "50"))
    with connection.cursor() as cursor:
        cursor.execute(
            _PAGE.replace("r.links", "1"), [consent, [f"patient\tPatient/{patient}"], count]
        )
        rows = [c for c, _ in cursor.fetchall()]
    return HttpResponse(_bundle(rows), content_type=FHIR_JSON)


def eob_search_include(request, consent: str) -> HttpResponse:
    """The page and every row its resources reference, in one statement."""
    patient = request.GET["patient"]
    count = int(request.GET.get("_count", "50"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH page AS ({_PAGE}) SELECT content FROM page UNION ALL"
            " SELECT t.content FROM fhircache_resource t WHERE t.consent_id = %s"
            " AND (t.resource_type, t.resource_id) IN (SELECT DISTINCT split_part(l, '/', 1),"
            " split_part(l, '/', 2) FROM page, unnest(page.links) l)",
            [consent, [f"patient\tPatient/{patient}"], count, consent],
        )
        rows = [c for (c,) in cursor.fetchall()]
    return HttpResponse(_bundle(rows), content_type=FHIR_JSON)


def everything(request, consent: str) -> StreamingHttpResponse:
    """Every row of the consent, streamed from one server-side cursor."""

    def stream():
        yield _BUNDLE_HEAD
        with transaction.atomic():
            cursor = connection.connection.cursor(name="bench_everything")
            cursor.execute(
                "SELECT content FROM fhircache_resource WHERE consent_id = %s"
                " ORDER BY resource_type, resource_id",
                [consent],
            )
            first = True
            while rows := cursor.fetchmany(500):
                chunk = b",".join(b'{"resource":' + bytes(c) + b"}" for (c,) in rows)
                yield chunk if first else b"," + chunk
                first = False
            cursor.close()
        yield b"]}"

    return StreamingHttpResponse(stream(), content_type=FHIR_JSON)


urlpatterns = [
    path("bench-baseline/<uuid:consent>/ExplanationOfBenefit", eob_search),
    path("bench-baseline/<uuid:consent>/include/ExplanationOfBenefit", eob_search_include),
    path("bench-baseline/<uuid:consent>/everything", everything),
    path("bench-baseline/<uuid:consent>/<str:rtype>/<str:rid>", read),
    *product_urlpatterns,
]
