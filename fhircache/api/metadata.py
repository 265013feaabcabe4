"""`GET /fhir/metadata`: a CapabilityStatement that says what this server really does.

Types, interactions and search parameters come from `fhircache.searchparams`
(the table the index is built from), so a parameter is announced exactly when
it can be searched. Security (SMART `oauth-uris`) comes from
`consent.smart_metadata`. Operations are announced by the modules that
implement them, by appending to `OPERATIONS`.
"""

from __future__ import annotations

from consent import smart_metadata
from fhircache.api.base import FhirView
from fhircache.api.negotiation import dumps
from fhircache.api.query import type_params

C4BB_SERVER = "http://hl7.org/fhir/us/carin-bb/CapabilityStatement/c4bb"
VALIDATION_NOTE = (
    "Read-only FHIR R4 (4.0.1) API over one patient's records cached from their health plan"
    " under a consent. Resources are validated structurally only (fhir.resources R4B:"
    " structure and data types; no invariants, no profile or terminology validation);"
    " a resource that fails it is still served, with a data-quality meta.tag."
)
# (name, definition canonical, resource types) of each operation the API serves;
# each operation module appends its own row when it is imported.
OPERATIONS: list[tuple[str, str, tuple[str, ...]]] = []
# system-level interactions served at /fhir (the batch module appends "batch")
SYSTEM_INTERACTIONS: list[str] = []
_COMMON = [
    ("_id", "token", "http://hl7.org/fhir/SearchParameter/Resource-id"),
    ("_lastUpdated", "date", "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"),
]


def _resource(resource_type: str, reverse: list[str]) -> dict:
    params = type_params(resource_type)
    references = [p.name for p in params if p.kind == "reference"]
    entry: dict = {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        # ETags carry our row version, but resources keep the payer's meta and
        # there is no vread: no version ids are promised
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
        "conditionalRead": "not-match",
        "searchInclude": [f"{resource_type}:{name}" for name in references]
        + ([f"{resource_type}:*"] if references else []),
        "searchRevInclude": reverse,
        "searchParam": [
            {"name": name, "type": kind, "definition": definition}
            for name, kind, definition in _COMMON
        ]
        + [{"name": p.name, "type": p.kind} for p in params],
    }
    operations = [
        {"name": name, "definition": definition}
        for name, definition, types in OPERATIONS
        if resource_type in types
    ]
    if operations:
        entry["operation"] = operations
    return entry


def _reverse_includes(resource_type: str, all_types: list[str]) -> list[str]:
    """What may `_revinclude` this type: every type's `patient` for Patient, and
    `Provenance:target` for all (other reverse includes work too; these are sure)."""
    found = []
    if resource_type == "Patient":
        found = [
            f"{other}:patient"
            for other in all_types
            if any(p.name == "patient" for p in type_params(other))
        ]
    if resource_type != "Provenance":
        found.append("Provenance:target")
    return found


def capability_statement() -> bytes:
    statement = smart_metadata.capability_statement()
    types = sorted(_searchable_types())
    rest = statement["rest"][0]
    rest["documentation"] = VALIDATION_NOTE
    rest["security"]["cors"] = True
    rest["resource"] = [_resource(t, _reverse_includes(t, types)) for t in types]
    if SYSTEM_INTERACTIONS:
        rest["interaction"] = [{"code": code} for code in SYSTEM_INTERACTIONS]
    rest["searchParam"] = [
        {"name": name, "type": kind, "definition": definition} for name, kind, definition in _COMMON
    ]
    system_ops = [{"name": n, "definition": d} for n, d, t in OPERATIONS if not t]
    if system_ops:
        rest["operation"] = system_ops
    statement.update(
        {
            "name": "PayerbridgeFhirApi",
            "title": "Payerbridge FHIR API",
            "instantiates": [C4BB_SERVER],
            "format": ["application/fhir+json", "json", "application/json"],
            "description": VALIDATION_NOTE,
        }
    )
    statement["implementation"]["description"] = "Payerbridge FHIR API (read-only, per consent)"
    statement["software"]["version"] = "1"
    return dumps(statement)


def _searchable_types() -> list[str]:
    from fhircache.searchparams import SEARCH_PARAMS

    return [t for t in SEARCH_PARAMS if t[:1].isupper() and t != "Resource"]


class Metadata(FhirView):
    """`GET /fhir/metadata` (FHIR R4 §3.1.0.15 capabilities); no token needed."""

    interaction = "capabilities"
    authenticated = False

    def get(self, request, **kwargs):
        response = self.respond(capability_statement())
        response["Cache-Control"] = "public, max-age=300"
        return response


__all__ = ["OPERATIONS", "SYSTEM_INTERACTIONS", "Metadata", "capability_statement"]
