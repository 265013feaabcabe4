"""Re-render canonical resources the way a given payer would send them.

Pure functions over dicts: reference style (relative, absolute, `urn:uuid`),
contained resources, CARIN BB 0.1.0 adjudication codes and missing displays.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

from payers.sandbox.profiles import QuirkProfile

Resolver = Callable[[str, str], dict[str, Any] | None]

# CARIN BB 0.1.0 (STU1 ballot 1, 2020Feb) used one code system for adjudication
# categories; later versions split them across HL7 and C4BB systems.
CARIN_010_SYSTEM = "http://hl7.org/fhir/us/carin/CodeSystem/carin-bb-adjudicationcategory"
_TO_CARIN_010: dict[str, str] = {
    "submitted": "submittedamount",
    "eligible": "allowedamount",
    "deductible": "deductibleamount",
    "copay": "copayamount",
    "benefit": "paymentamount",
    "coinsurance": "coinsuranceamount",
    "noncovered": "noncoveredamount",
    "priorpayerpaid": "cobamount",
    "memberliability": "patientpayamount",
    "paidbypatient": "patientpayamount",
    "paidtoprovider": "paymentamount",
    "paidtopatient": "paymentamount",
    "denialreason": "denialreason",
    "innetwork": "innetworkbenefitpaymentstatus",
    "outofnetwork": "outofnetworkbenefitpaymentstatus",
    "other": "otherbenefitpaymentstatus",
}
_CURRENT_SYSTEMS = (
    "http://terminology.hl7.org/CodeSystem/adjudication",
    "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication",
    "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudicationDiscriminator",
    "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBPayerAdjudicationStatus",
)


def urn_for(reference: str) -> str:
    """A stable `urn:uuid:` for `Type/id` (the same on every page and every run)."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, reference)}"


def render(
    resource: dict[str, Any], profile: QuirkProfile, base_url: str, resolve: Resolver
) -> dict[str, Any]:
    out = copy.deepcopy(resource)
    if profile.contained and out["resourceType"] == "ExplanationOfBenefit":
        _contain(out, resolve)
    if profile.carin_bb_version == "0.1.0" and out["resourceType"] == "ExplanationOfBenefit":
        _to_carin_010(out)
    if profile.missing_display:
        _strip_displays(out)
    _restyle_references(out, profile.reference_style, base_url)
    return out


def full_url(resource: dict[str, Any], profile: QuirkProfile, base_url: str) -> str:
    ref = f"{resource['resourceType']}/{resource['id']}"
    if profile.reference_style == "urn_uuid":
        return urn_for(ref)
    return f"{base_url}/{ref}"


def _contain(eob: dict[str, Any], resolve: Resolver) -> None:
    contained = eob.setdefault("contained", [])
    have = {c.get("id") for c in contained}
    for key in ("insurer", "provider"):
        ref = (eob.get(key) or {}).get("reference", "")
        if "/" not in ref or ref.startswith("#"):
            continue
        rtype, rid = ref.split("/", 1)
        target = resolve(rtype, rid)
        if target is None:
            continue
        local_id = f"{rtype.lower()}-{rid}"[:64]
        if local_id not in have:
            inline = copy.deepcopy(target)
            inline["id"] = local_id
            inline.pop("meta", None)
            contained.append(inline)
            have.add(local_id)
        eob[key] = {**eob[key], "reference": f"#{local_id}"}


def _to_carin_010(eob: dict[str, Any]) -> None:
    def convert(category: dict[str, Any] | None) -> None:
        for coding in (category or {}).get("coding", []):
            code = _TO_CARIN_010.get(coding.get("code", ""))
            if coding.get("system") in _CURRENT_SYSTEMS and code:
                coding["system"] = CARIN_010_SYSTEM
                coding["code"] = code
                coding["display"] = code

    for adjudication in eob.get("adjudication", []):
        convert(adjudication.get("category"))
    for item in eob.get("item", []):
        for adjudication in item.get("adjudication", []):
            convert(adjudication.get("category"))
    for total in eob.get("total", []):
        convert(total.get("category"))


def _strip_displays(node: Any) -> None:
    if isinstance(node, dict):
        if "code" in node and "system" in node:
            node.pop("display", None)
        for value in node.values():
            _strip_displays(value)
    elif isinstance(node, list):
        for value in node:
            _strip_displays(value)


def _restyle_references(node: Any, style: str, base_url: str) -> None:
    if style == "relative":
        return
    if isinstance(node, dict):
        ref = node.get("reference")
        if isinstance(ref, str) and _is_relative(ref):
            node["reference"] = urn_for(ref) if style == "urn_uuid" else f"{base_url}/{ref}"
        for value in node.values():
            _restyle_references(value, style, base_url)
    elif isinstance(node, list):
        for value in node:
            _restyle_references(value, style, base_url)


def _is_relative(ref: str) -> bool:
    parts = ref.split("/")
    return len(parts) == 2 and parts[0][:1].isupper() and ":" not in ref
