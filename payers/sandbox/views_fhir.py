"""The sandbox payers' FHIR R4 API: read, search by patient, `$everything`, paging.

Every call needs a live access token; a token sees only its own patient's
records (other patients' ids are 404 on read and 403 on search). Errors are
OperationOutcomes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

import orjson
from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from payers.sandbox import datasets
from payers.sandbox.bundles import (
    PageRequest,
    next_link,
    operation_outcome,
    page_size,
    searchset,
    whole_number,
)
from payers.sandbox.capability import capability_statement
from payers.sandbox.faults import injected_fault
from payers.sandbox.models import SandboxToken
from payers.sandbox.oauth import OAuthError, bearer_token, fhir_base
from payers.sandbox.profiles import QuirkProfile
from payers.sandbox.registry import dataset_for, payer_or_none
from payers.sandbox.render import full_url, render
from payers.sandbox.scopes import allows

FHIR_JSON = "application/fhir+json"
PATIENT_PARAMS = ("patient", "beneficiary", "subject")


def fhir_response(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(orjson.dumps(body), status=status, content_type=FHIR_JSON)


def outcome(status: int, code: str, diagnostics: str) -> HttpResponse:
    return fhir_response(operation_outcome(code, diagnostics), status)


def read_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """GET/HEAD only; other methods get a 405 OperationOutcome (FHIR R4 §3.1.0.4).

    Bearer-token APIs carry no cookies, so Django's CSRF check (an HTML 403)
    has nothing to protect here.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            response = outcome(405, "not-supported", f"{request.method} is not supported here")
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


@read_only
def metadata(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return outcome(404, "not-found", f"no sandbox payer {slug!r}")
    return fhir_response(capability_statement(payer))


@dataclass
class Call:
    """An authenticated FHIR call: whose token, which payer profile, which records."""

    slug: str
    token: SandboxToken
    profile: QuirkProfile
    data: datasets.Dataset
    base: str

    def render(self, resource: dict[str, Any]) -> dict[str, Any]:
        return render(resource, self.profile, self.base, self.data.find)


def _authenticate(request: HttpRequest, slug: str) -> Call | HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return outcome(404, "not-found", f"no sandbox payer {slug!r}")
    try:
        token = bearer_token(payer, request.headers.get("Authorization", ""))
    except OAuthError as exc:
        response = outcome(401, "login", exc.description)
        response["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return response
    try:
        profile, data = dataset_for(payer, token.patient_id)
    except LookupError:  # the profile no longer lists this token's patient
        return outcome(401, "login", "the access token's patient is no longer known")
    return Call(slug, token, profile, data, fhir_base(slug))


@read_only
def fhir(
    request: HttpRequest, slug: str, rtype: str = "", rid: str = "", everything: bool = False
) -> HttpResponse:
    call = _authenticate(request, slug)
    if isinstance(call, HttpResponse):
        return call
    fault = injected_fault(call.profile, call.token)
    if fault is not None:
        return fault
    if not rtype and "_getpages" in request.GET:
        page = _continued_page(call, request.GET["_getpages"])
    else:
        page = _first_page(call, request, rtype, rid, everything)
    if isinstance(page, HttpResponse):
        return page
    matches = [
        r
        for r in _matches(call.data, call.profile.resource_types, page)
        if allows(call.token.scope, r["resourceType"], "s")
    ]
    window = matches[page.offset : page.offset + page.count]
    bundle = searchset(
        [(full_url(r, call.profile, call.base), call.render(r)) for r in window],
        total=len(matches),
        # From the configured origin, never the Host header (which the client chose).
        self_url=settings.SANDBOX_BASE_URL + request.get_full_path(),
        next_url=next_link(page, call.profile, call.base, len(matches)),
    )
    return fhir_response(bundle)


def _continued_page(call: Call, token: str) -> PageRequest | HttpResponse:
    try:
        page = PageRequest.from_token(token)
    except signing.BadSignature:
        return outcome(400, "invalid", "unknown or expired _getpages token")
    if page.slug != call.slug or page.patient_id != call.token.patient_id:
        return outcome(403, "forbidden", "this page belongs to another session")
    return page


def _first_page(
    call: Call, request: HttpRequest, rtype: str, rid: str, everything: bool
) -> PageRequest | HttpResponse:
    """Checks a read, search or $everything; answers a read; else the first page to serve."""
    is_read = bool(rid) and not everything
    if not rtype:
        return outcome(400, "invalid", "name a resource type, e.g. GET [base]/Patient")
    if rtype not in call.profile.resource_types:
        return outcome(404, "not-supported", f"resource type {rtype!r} is not supported")
    if not allows(call.token.scope, rtype, "r" if is_read else "s"):
        return outcome(403, "forbidden", f"the granted scopes do not cover {rtype}")
    if is_read:
        resource = call.data.find(rtype, rid)
        if resource is None:
            return outcome(404, "not-found", f"{rtype}/{rid} is not known")
        return fhir_response(call.render(resource))
    if everything and not call.profile.everything:
        return outcome(404, "not-supported", "Patient/$everything is not supported")
    if everything and rid != call.data.patient_id:
        return outcome(404, "not-found", f"Patient/{rid} is not known")
    requested = _requested_patient(request.GET)
    if requested is not None and requested != call.data.patient_id:
        return outcome(403, "forbidden", "you may only read your own records")
    return PageRequest(
        slug=call.slug,
        patient_id=call.token.patient_id,
        path=f"Patient/{rid}/$everything" if everything else rtype,
        params={k: v for k, v in request.GET.items() if k not in ("_count", "startIndex")},
        offset=whole_number(request.GET.get("startIndex"), 0),
        count=page_size(call.profile, request.GET.get("_count")),
    )


def _requested_patient(query) -> str | None:
    for name in PATIENT_PARAMS:
        if query.get(name):
            return query[name].rstrip("/").rsplit("/", 1)[-1]
    return None


def _matches(
    data: datasets.Dataset, types: tuple[str, ...], page: PageRequest
) -> list[dict[str, Any]]:
    if page.path.endswith("$everything"):
        return [r for r in data.resources if r["resourceType"] in types]
    found = data.by_type(page.path)
    wanted_id = page.params.get("_id")
    if wanted_id:
        found = [r for r in found if r.get("id") in wanted_id.split(",")]
    return found
