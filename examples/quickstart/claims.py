"""Turning ExplanationOfBenefit resources into table rows (pure functions, no I/O).

Payers fill EOBs differently (CARIN Blue Button current codes, CARIN 0.1.0 codes,
Medicare's own), so each amount is looked up by a short list of adjudication
category codes: first in `EOB.total`, then summed over `item.adjudication`.
The FHIR JSON is read with the `fhirclient` models in non-strict mode, so a
resource with a structural flaw (Payerbridge serves those too) still reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from fhirclient.models.explanationofbenefit import ExplanationOfBenefit, ExplanationOfBenefitItem

# Adjudication category codes (http://terminology.hl7.org/CodeSystem/adjudication,
# CARIN BB C4BBAdjudication, CARIN 0.1.0 carin-bb-adjudicationcategory).
BILLED = ("submitted", "submittedamount", "drugcost")
PAID = ("benefit", "paidtoprovider", "paymentamount")
PATIENT_PAID = ("paidbypatient", "patientpayamount")
CLAIM_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/claim-type"


@dataclass(frozen=True)
class ClaimRow:
    """One line of the claims table."""

    id: str
    date: date | None
    type: str
    provider: str
    billed: Decimal | None
    paid: Decimal | None
    patient_paid: Decimal | None


def read_eob(resource: dict) -> tuple[ExplanationOfBenefit, list[ExplanationOfBenefitItem]]:
    """The EOB and its items, each item read on its own.

    In non-strict mode fhirclient drops a whole list when one element of it is
    flawed (Blue Button's Part D items have details without `sequence`), so
    items are read one by one and a flaw costs only that item's bad part.
    """
    items = [i for i in resource.get("item") or [] if isinstance(i, dict)]
    return (
        ExplanationOfBenefit({**resource, "item": []}, strict=False),
        [ExplanationOfBenefitItem(item, strict=False) for item in items],
    )


def money(value) -> Decimal | None:
    """A FHIR decimal as a Decimal.

    JSON numbers arrive as floats; `repr` gives back the shortest digits that
    round-trip, i.e. what the payer wrote for any amount with <= 15 digits.
    """
    if value is None:
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def format_money(amount: Decimal | None, currency: str = "USD") -> str:
    """`$1,234.50`, `-$3.00`; an unknown amount is an em dash, never `$0.00`."""
    if amount is None:
        return "—"
    symbol = "$" if currency == "USD" else f"{currency} "
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount).quantize(Decimal('0.01')):,}"


def _codes(concept) -> set[str]:
    return {c.code for c in (concept.coding or []) if c.code} if concept else set()


def amount(
    eob: ExplanationOfBenefit, items: list[ExplanationOfBenefitItem], categories: tuple[str, ...]
) -> Decimal | None:
    """The EOB's total for the first category it reports, else the items' sum."""
    for category in categories:
        for total in eob.total or []:
            if category in _codes(total.category) and total.amount:
                return money(total.amount.value)
    found = [
        money(adjudication.amount.value)
        for item in items
        for adjudication in item.adjudication or []
        if adjudication.amount and _codes(adjudication.category) & set(categories)
    ]
    found = [value for value in found if value is not None]
    return sum(found, Decimal(0)) if found else None


def _day(value) -> date | None:
    """A fhirclient FHIRDate/FHIRDateTime as a calendar date (as written, no tz shift)."""
    parsed = value.date if value else None
    return parsed.date() if isinstance(parsed, datetime) else parsed


def service_date(eob: ExplanationOfBenefit, items: list[ExplanationOfBenefitItem]) -> date | None:
    """When the care happened: billing period, else the first item's date, else `created`."""
    if eob.billablePeriod and eob.billablePeriod.start:
        return _day(eob.billablePeriod.start)
    for item in items:
        when = item.servicedDate or (item.servicedPeriod and item.servicedPeriod.start)
        if when:
            return _day(when)
    return _day(eob.created)


def claim_type(eob: ExplanationOfBenefit) -> str:
    concept = eob.type
    if concept is None:
        return "—"
    if concept.text:
        return concept.text
    codings = sorted(concept.coding or [], key=lambda c: c.system != CLAIM_TYPE_SYSTEM)
    for coding in codings:
        if coding.display or coding.code:
            return coding.display or coding.code.capitalize()
    return "—"


def provider_name(eob: ExplanationOfBenefit, included: dict[str, dict]) -> str:
    """The reference's display, a contained or `_include`d resource's name, or the NPI."""
    ref = eob.provider
    if ref is None:
        return "—"
    if ref.display:
        return ref.display
    if ref.reference:
        if ref.reference.startswith("#"):
            contained = {c.id: c.as_json() for c in eob.contained or []}
            target = contained.get(ref.reference[1:])
        else:
            target = included.get(ref.reference)
        if target and (name := resource_name(target)):
            return name
    if ref.identifier and ref.identifier.value:
        return (
            f"NPI {ref.identifier.value}"
            if "npi" in (ref.identifier.system or "")
            else (ref.identifier.value)
        )
    return ref.reference or "—"


def resource_name(resource: dict) -> str | None:
    """Organization.name, or a Practitioner's first HumanName."""
    name = resource.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list) and name and isinstance(name[0], dict):
        first = name[0]
        if first.get("text"):
            return first["text"]
        parts = [*first.get("prefix", []), *first.get("given", []), first.get("family", "")]
        return " ".join(p for p in parts if p) or None
    return None


def claim_row(resource: dict, included: dict[str, dict] | None = None) -> ClaimRow:
    eob, items = read_eob(resource)
    paid = money(eob.payment.amount.value) if eob.payment and eob.payment.amount else None
    return ClaimRow(
        id=eob.id or "",
        date=service_date(eob, items),
        type=claim_type(eob),
        provider=provider_name(eob, included or {}),
        billed=amount(eob, items, BILLED),
        paid=paid if paid is not None else amount(eob, items, PAID),
        patient_paid=amount(eob, items, PATIENT_PAID),
    )


def newest_first(rows: list[ClaimRow]) -> list[ClaimRow]:
    return sorted(rows, key=lambda r: (r.date is not None, r.date or date.min, r.id), reverse=True)
