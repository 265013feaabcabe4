"""Step: mark resources that are served although they failed structural validation.

Serve unless unservable (DESIGN.md): a resource of a known type is stored and
served even when `fhir.resources` (R4B) rejects it; its OperationOutcome is
kept beside it (`fhircache.repository.read_outcome`) and the resource carries
one `meta.tag` of our data-quality code system, so an app can find such
resources with `_tag` (`GET /fhir/ExplanationOfBenefit?_tag=SYSTEM|CODE`) and
read the problems with `$validate` on the stored resource.

Only what cannot be served as FHIR at all is quarantined: not a JSON object, no
or an unknown `resourceType`, U+0000 or content that is not JSON, nesting past
what orjson writes, a Bundle whose `entry` is not a list.
"""

from __future__ import annotations

from fhircache.normalize.fastcheck import _resource_types as resource_types

# Our code system for data-quality marks (documented in the README).
QUALITY_SYSTEM = "https://payerbridge.dev/fhir/CodeSystem/data-quality"
STRUCTURE_INVALID = "structure-invalid"
QUALITY_CODES = {
    STRUCTURE_INVALID: (
        "Failed structural validation (fhir.resources R4B); $validate on the stored"
        " resource returns the problems"
    ),
}


def quality_tag(code: str = STRUCTURE_INVALID) -> dict:
    return {"system": QUALITY_SYSTEM, "code": code, "display": QUALITY_CODES[code]}


def is_servable_type(resource_type: object) -> bool:
    """Whether `resource_type` names a concrete FHIR R4B resource type (not a
    datatype such as `Coding`, not the abstract `Resource`/`DomainResource`).

    Asks the compiled pre-check, which knows every R4B resource type and is
    loaded for validation anyway: no fhir.resources model class is imported.
    """
    # membership first: `validator` caches per name, and a payer can send any names
    return isinstance(resource_type, str) and resource_type in resource_types()


def _as_list(holder: dict, key: str, issues: list[dict]) -> list:
    """`holder[key]` as a list we may append to; a single value the payer sent
    where FHIR wants an array is wrapped (and reported), never dropped."""
    value = holder.get(key)
    if value is None:
        value = holder[key] = []
    elif not isinstance(value, list):
        issues.append(_normalized(f"meta.{key} was not an array; it was wrapped in one"))
        value = holder[key] = [value]
    return value


def _normalized(text: str) -> dict:
    return {"severity": "information", "code": "informational", "diagnostics": text}


def servable_meta(resource: dict, issues: list[dict]) -> dict:
    """The resource's `meta` as an object our provenance and tags can go into.

    A `meta` that is not an object (structurally invalid) is kept, as sent,
    in the OperationOutcome's diagnostics, and replaced by an empty object.
    """
    meta = resource.get("meta")
    if not isinstance(meta, dict):
        if meta is not None:
            issues.append(_normalized(f"meta was not an object and was replaced; it was {meta!r}"))
        meta = resource["meta"] = {}
    _as_list(meta, "extension", issues)
    _as_list(meta, "tag", issues)
    if not meta["tag"]:
        del meta["tag"]
    return meta


def mark_quality(meta: dict, flagged: bool) -> None:
    """Set our data-quality tag on `meta` exactly when `flagged` (in place).

    Tags of our system the payer's data already carries (a re-export of our
    own output, say) are dropped first, so the tag always says what this load
    found.
    """
    tags = meta.get("tag")
    if isinstance(tags, list):
        kept = [t for t in tags if not (isinstance(t, dict) and t.get("system") == QUALITY_SYSTEM)]
    else:
        kept = []
    if flagged:
        kept.append(quality_tag())
    if kept:
        meta["tag"] = kept
    else:
        meta.pop("tag", None)
