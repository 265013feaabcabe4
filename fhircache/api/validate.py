"""`$validate` (FHIR R4 Resource-validate): structural validation, nothing more.

- `POST /fhir/{type}/$validate` with a resource (or a `Parameters` whose
  `resource` parameter holds one): the verdict of `fhir.resources.R4B`
  (`fhircache.normalize.validation`: structure and data types only; no
  invariants, profiles or terminology), one issue per problem, each with its
  location as a FHIRPath expression (`ExplanationOfBenefit.item[0].sequence`).
- `POST` (or `GET`) `/fhir/{type}/{id}/$validate` with no resource: the outcome
  stored when that cached resource was loaded (`repository.read_outcome`), or
  an informational "no problems" when it was valid; 404 when the consent does
  not hold it. With a resource in the body, that resource is validated.

The operation succeeded whatever the verdict: 200 with the OperationOutcome.
A body that is not a resource of the URL's type is a 400.
"""

from __future__ import annotations

import re

import orjson
from django.http import HttpRequest, HttpResponse

from fhircache import repository
from fhircache.api.base import FhirView
from fhircache.api.outcome import FhirError, issue, operation_outcome
from fhircache.normalize.validation import validate

_INDEX = re.compile(r"\.(\d+)(?=\.|$)")
VALID = operation_outcome(
    [
        issue(
            "informational",
            "No structural problems found (fhir.resources R4B: structure and data types;"
            " invariants, profiles and terminology are not checked).",
            severity="information",
        )
    ]
)


def fhirpath(location: str) -> str:
    """`ExplanationOfBenefit.item.0.sequence` → `ExplanationOfBenefit.item[0].sequence`."""
    return _INDEX.sub(r"[\1]", location)


def verdict(resource: dict) -> dict:
    """The structural validation OperationOutcome of `resource` (pure)."""
    found = validate(resource)
    if found is None:
        return VALID
    for item in found.get("issue", []):
        item["expression"] = [fhirpath(e) for e in item.get("expression", [])]
    return found


def resource_in(body: bytes, resource_type: str) -> dict | None:
    """The resource a $validate request carries; None for an empty body (pure)."""
    if not body.strip():
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise FhirError(400, "structure", f"The body is not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise FhirError(400, "structure", "The body is not a FHIR resource (a JSON object).")
    if payload.get("resourceType") == "Parameters":
        params = payload.get("parameter")
        found = [
            p.get("resource")
            for p in (params if isinstance(params, list) else [])
            if isinstance(p, dict) and p.get("name") == "resource"
        ]
        if not found:
            return None
        payload = found[0]
        if not isinstance(payload, dict):
            raise FhirError(400, "structure", "Parameter 'resource' holds no resource.")
    if payload.get("resourceType") != resource_type:
        raise FhirError(
            400,
            "invalid",
            f"The resource is a {payload.get('resourceType')!r}, not a {resource_type}.",
            expression="resourceType",
        )
    return payload


class ValidateResource(FhirView):
    """`POST /fhir/{type}/$validate`: validates what is sent; reads no cached data."""

    interaction = "$validate"
    serves_data = False
    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, resource_type: str) -> HttpResponse:
        resource = resource_in(request.body, resource_type)
        if resource is None:
            raise FhirError(400, "required", "Send the resource to validate in the body.")
        return self.respond(verdict(resource))


class ValidateStored(FhirView):
    """`/fhir/{type}/{id}/$validate`: the stored verdict of a cached resource."""

    interaction = "$validate"
    http_method_names = ["get", "post", "options"]

    def get(self, request: HttpRequest, resource_type: str, resource_id: str) -> HttpResponse:
        self.caller.require(resource_type, "r")
        resource = resource_in(request.body, resource_type) if request.method == "POST" else None
        if resource is not None:
            return self.respond(verdict(resource))
        consent = self.caller.consent
        if repository.read(consent, resource_type, resource_id) is None:
            raise FhirError(404, "not-found", f"{resource_type}/{resource_id} is not known.")
        self.record.count = 1
        stored = repository.read_outcome(consent, resource_type, resource_id)
        return self.respond(stored if stored is not None else VALID)

    post = get


def _announce() -> None:
    from fhircache.api.metadata import OPERATIONS
    from fhircache.searchparams import SEARCH_PARAMS

    types = tuple(sorted(t for t in SEARCH_PARAMS if t not in ("Resource", "*")))
    row = ("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate", types)
    if row not in OPERATIONS:
        OPERATIONS.append(row)


_announce()
