"""Step: add current CARIN BB adjudication codings beside 0.1.0 ones.

CARIN BB 0.1.0 coded adjudication and total categories in
`…/carin/CodeSystem/carin-bb-adjudicationcategory` (and some payers used the
ValueSet URL `…/carin-bb/ValueSet/C4BBAdjudication` as a system). CARIN BB
1.x/2.x use `http://terminology.hl7.org/CodeSystem/adjudication` and
`…/carin-bb/CodeSystem/C4BBAdjudication`. We ADD the current coding to the same
CodeableConcept and never remove what the payer sent, so apps written for
either version find what they look for.
"""

from __future__ import annotations

from collections.abc import Iterator

HL7 = "http://terminology.hl7.org/CodeSystem/adjudication"
C4BB = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBAdjudication"
CARIN_010 = "http://hl7.org/fhir/us/carin/CodeSystem/carin-bb-adjudicationcategory"
C4BB_VALUESET_AS_SYSTEM = "http://hl7.org/fhir/us/carin-bb/ValueSet/C4BBAdjudication"

_CURRENT: dict[str, tuple[str, str, str]] = {
    # code: (system, code, display) of the current coding
    "submitted": (HL7, "submitted", "Submitted Amount"),
    "copay": (HL7, "copay", "CoPay"),
    "eligible": (HL7, "eligible", "Eligible Amount"),
    "deductible": (HL7, "deductible", "Deductible"),
    "benefit": (HL7, "benefit", "Benefit Amount"),
    "coinsurance": (C4BB, "coinsurance", "Co-insurance"),
    "noncovered": (C4BB, "noncovered", "Noncovered"),
    "priorpayerpaid": (C4BB, "priorpayerpaid", "Prior payer paid"),
    "paidbypatient": (C4BB, "paidbypatient", "Paid by patient"),
    "paidtoprovider": (C4BB, "paidtoprovider", "Paid to provider"),
    "paidtopatient": (C4BB, "paidtopatient", "Paid to patient"),
    "memberliability": (C4BB, "memberliability", "Member liability"),
    "discount": (C4BB, "discount", "Discount"),
    "drugcost": (C4BB, "drugcost", "Drug cost"),
}

# CARIN BB 0.1.0 adjudication category codes -> current codes
_FROM_010 = {
    "submittedamount": "submitted",
    "allowedamount": "eligible",
    "deductibleamount": "deductible",
    "copayamount": "copay",
    "coinsuranceamount": "coinsurance",
    "noncoveredamount": "noncovered",
    "cobamount": "priorpayerpaid",
    "paymentamount": "benefit",
    "patientpayamount": "paidbypatient",
    "memberliability": "memberliability",
    "memberliabilityamount": "memberliability",
    "discountamount": "discount",
    "discount": "discount",
    "drugcost": "drugcost",
}

# where adjudication categories live in an ExplanationOfBenefit
_ADJUDICATION_HOLDERS = (
    ("adjudication",),
    ("item", "adjudication"),
    ("item", "detail", "adjudication"),
    ("item", "detail", "subDetail", "adjudication"),
    ("addItem", "adjudication"),
    ("addItem", "detail", "adjudication"),
    ("addItem", "detail", "subDetail", "adjudication"),
    ("total",),
)


def current_coding(coding: dict) -> dict | None:
    """The current CARIN coding for a 0.1.0 one, or None when it is not one."""
    system, code = coding.get("system"), coding.get("code")
    if not isinstance(code, str):  # structurally invalid data is served too
        return None
    if system == CARIN_010:
        current = _FROM_010.get(code or "")
    elif system == C4BB_VALUESET_AS_SYSTEM:
        current = code if code in _CURRENT else None
    else:
        return None
    if current is None:
        return None
    sys_, code_, display = _CURRENT[current]
    return {"system": sys_, "code": code_, "display": display}


def _categories(resource: dict) -> Iterator[dict]:
    for path in _ADJUDICATION_HOLDERS:
        nodes: list = [resource]
        for name in path:
            nxt: list = []
            for node in nodes:
                value = node.get(name) if isinstance(node, dict) else None
                if isinstance(value, list):
                    nxt.extend(value)
            nodes = nxt
        for node in nodes:
            if isinstance(node, dict) and isinstance(node.get("category"), dict):
                yield node["category"]


def add_current_adjudication_codings(resource: dict) -> dict:
    """Add current codings beside 0.1.0 adjudication codings (in place; returns it)."""
    if resource.get("resourceType") != "ExplanationOfBenefit":
        return resource
    for category in _categories(resource):
        codings = category.get("coding")
        if not isinstance(codings, list):
            continue
        try:
            present = {(c.get("system"), c.get("code")) for c in codings if isinstance(c, dict)}
        except TypeError:  # a list or object as system or code: invalid, served anyway
            present = {
                (c.get("system"), c.get("code"))
                for c in codings
                if isinstance(c, dict)
                and isinstance(c.get("system"), str | None)
                and isinstance(c.get("code"), str | None)
            }
        for coding in list(codings):
            if not isinstance(coding, dict):
                continue
            new = current_coding(coding)
            if new and (new["system"], new["code"]) not in present:
                codings.append(new)
                present.add((new["system"], new["code"]))
    return resource
