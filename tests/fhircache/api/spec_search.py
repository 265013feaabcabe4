"""An independent reading of the FHIR R4 search rules over raw payer JSON, for expectations.

Written from the specifications (R4 §3.1.1.4 parameter types and prefixes,
the C4BB and US Core SearchParameter expressions), not from
`fhircache.searchparams` or `fhircache.indexing`: the conformance tests compare
the API's answers with what these functions compute from the files as the payer
sent them.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

EOB = "ExplanationOfBenefit"
MIN = datetime.min.replace(tzinfo=UTC)
MAX = datetime.max.replace(tzinfo=UTC)


def _list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _each(resource: dict, *path: str) -> list:
    items = [resource]
    for name in path:
        items = [v for item in items if isinstance(item, dict) for v in _list(item.get(name))]
    return items


# (type, parameter) -> (kind, element values), from the SearchParameter expressions
ELEMENTS: dict[tuple[str, str], tuple[str, Callable[[dict], list]]] = {
    (EOB, "patient"): ("reference", lambda r: _each(r, "patient")),
    (EOB, "type"): ("token", lambda r: _each(r, "type")),
    (EOB, "identifier"): ("token", lambda r: _each(r, "identifier")),
    (EOB, "status"): ("token", lambda r: _each(r, "status")),
    (EOB, "created"): ("date", lambda r: _each(r, "created")),
    (EOB, "service-date"): (
        "date",
        lambda r: (
            _each(r, "billablePeriod")
            + _each(r, "item", "servicedDate")
            + _each(r, "item", "servicedPeriod")
        ),
    ),
    (EOB, "service-start-date"): (
        "date",
        lambda r: (
            _each(r, "billablePeriod", "start")
            + _each(r, "item", "servicedDate")
            + _each(r, "item", "servicedPeriod", "start")
        ),
    ),
    (EOB, "billable-period-start"): ("date", lambda r: _each(r, "billablePeriod", "start")),
    (EOB, "provider"): ("reference", lambda r: _each(r, "provider")),
    (EOB, "care-team"): ("reference", lambda r: _each(r, "careTeam", "provider")),
    (EOB, "coverage"): ("reference", lambda r: _each(r, "insurance", "coverage")),
    (EOB, "insurer"): ("reference", lambda r: _each(r, "insurer")),
    (EOB, "payee"): ("reference", lambda r: _each(r, "payee", "party")),
    ("Coverage", "patient"): ("reference", lambda r: _each(r, "beneficiary")),
    ("Coverage", "beneficiary"): ("reference", lambda r: _each(r, "beneficiary")),
    ("Coverage", "payor"): ("reference", lambda r: _each(r, "payor")),
    ("Coverage", "status"): ("token", lambda r: _each(r, "status")),
    ("Patient", "identifier"): ("token", lambda r: _each(r, "identifier")),
    ("Patient", "gender"): ("token", lambda r: _each(r, "gender")),
    ("Patient", "birthdate"): ("date", lambda r: _each(r, "birthDate")),
    ("Patient", "family"): ("string", lambda r: _each(r, "name", "family")),
    ("Patient", "given"): ("string", lambda r: _each(r, "name", "given")),
    ("Patient", "name"): (
        "string",
        lambda r: [
            part
            for name in _each(r, "name")
            for key in ("text", "family", "given", "prefix", "suffix")
            for part in _list(name.get(key))
        ],
    ),
    ("Observation", "patient"): ("reference", lambda r: _each(r, "subject")),
    ("Observation", "category"): ("token", lambda r: _each(r, "category")),
    ("Observation", "code"): ("token", lambda r: _each(r, "code")),
    ("Observation", "status"): ("token", lambda r: _each(r, "status")),
    ("Observation", "date"): (
        "date",
        lambda r: (
            _each(r, "effectiveDateTime")
            + _each(r, "effectivePeriod")
            + _each(r, "effectiveInstant")
        ),
    ),
    ("Condition", "clinical-status"): ("token", lambda r: _each(r, "clinicalStatus")),
    ("Condition", "code"): ("token", lambda r: _each(r, "code")),
    ("Immunization", "date"): ("date", lambda r: _each(r, "occurrenceDateTime")),
    ("Encounter", "class"): ("token", lambda r: _each(r, "class")),
}


# --- references ----------------------------------------------------------------------


def resolver(bundles: Iterable[dict]) -> Callable[[str], str | None]:
    """Reference text → "Type/id" of the resource it names (urn:uuid via fullUrl)."""
    by_full_url = {}
    for bundle in bundles:
        for entry in bundle.get("entry", []):
            res = entry.get("resource", {})
            if entry.get("fullUrl"):
                by_full_url[entry["fullUrl"]] = f"{res['resourceType']}/{res['id']}"

    def resolve(reference: str) -> str | None:
        if reference in by_full_url:
            return by_full_url[reference]
        if re.match(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$", reference):
            return reference
        return None

    return resolve


# --- dates ---------------------------------------------------------------------------


def date_range(text: str) -> tuple[datetime, datetime]:
    """The interval a date/dateTime stands for at its precision, in UTC."""
    m = re.match(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$", text)
    if m:
        year, month, day = int(m[1]), m[2] and int(m[2]), m[3] and int(m[3])
        if not month:
            start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1) if year < 9999 else None
        elif not day:
            start = datetime(year, month, 1)
            end = start + timedelta(days=calendar.monthrange(year, month)[1])
        else:
            start = datetime(year, month, day)
            end = start + timedelta(days=1)
        low = start.replace(tzinfo=UTC)
        return low, (end.replace(tzinfo=UTC) - timedelta(microseconds=1)) if end else MAX
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    seconds = text.split("T")[1].count(":") == 2 and "." not in text
    return moment, moment + (
        timedelta(seconds=1) - timedelta(microseconds=1) if seconds else timedelta(0)
    )


def _target_ranges(value) -> list[tuple[datetime, datetime]]:
    """The ranges of an element's value; text that is no date (BFD's "IGNORED_FIELD") has none."""
    try:
        return _ranges(value)
    except ValueError:
        return []


def _ranges(value) -> list[tuple[datetime, datetime]]:
    if isinstance(value, str):
        return [date_range(value)]
    if isinstance(value, dict) and ("start" in value or "end" in value):
        low = date_range(value["start"])[0] if "start" in value else MIN
        high = date_range(value["end"])[1] if "end" in value else MAX
        return [(low, high)]
    return []


def date_matches(prefix: str, search: tuple[datetime, datetime], target) -> bool:
    """R4 §3.1.1.4.6's table, for one target range; `ap` as its recommendation says:
    the value's range widened by 10% of the gap between now and the value."""
    lo, hi = search
    a, b = target
    if prefix == "ap":
        gap = abs(datetime.now(UTC) - lo) * 0.1
        return a <= hi + gap and b >= lo - gap
    contained = a >= lo and b <= hi
    return {
        "eq": contained,
        "ne": not contained,
        "gt": b > hi,
        "lt": a < lo,
        "ge": b > hi or contained,
        "le": a < lo or contained,
        "sa": a > hi,
        "eb": b < lo,
    }[prefix]


# --- one parameter -------------------------------------------------------------------


def _codes(value) -> list[tuple[str, str]]:
    if isinstance(value, str):
        return [("", value)]
    if isinstance(value, dict) and "coding" in value:
        return [(c.get("system", ""), c.get("code")) for c in value["coding"] if "code" in c]
    if isinstance(value, dict) and "code" in value:
        return [(value.get("system", ""), value["code"])]
    if isinstance(value, dict) and "value" in value:
        return [(value.get("system", ""), value["value"])]
    return []


def _token_matches(query: str, codes: list[tuple[str, str]]) -> bool:
    if "|" not in query:
        return any(code == query for _, code in codes)
    system, code = query.split("|", 1)
    return any(s == system and (not code or c == code) for s, c in codes)


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return " ".join("".join(ch for ch in text if not unicodedata.combining(ch)).casefold().split())


def matches(resource: dict, name: str, value: str, resolve: Callable[[str], str | None]) -> bool:
    """Whether `resource` matches `name=value` (comma = OR), by the spec's rules."""
    name, _, modifier = name.partition(":")
    if name == "_id":
        return resource["id"] in value.split(",")
    kind, elements = ELEMENTS[(resource["resourceType"], name)]
    values = elements(resource)
    if kind == "reference":
        targets = [
            resolve(v["reference"]) for v in values if isinstance(v, dict) and "reference" in v
        ]
        targets = [t for t in targets if t]
        if modifier == "missing":
            return (not targets) == (value == "true")
        return any(
            t == wanted or ("/" not in wanted and t.split("/")[1] == wanted)
            for wanted in value.split(",")
            for t in targets
        )
    if kind == "token":
        codes = [code for v in values for code in _codes(v)]
        if modifier == "missing":
            return (not codes) == (value == "true")
        found = any(_token_matches(q, codes) for q in value.split(","))
        return not found if modifier == "not" else found
    if kind == "string":
        texts = [v for v in values if isinstance(v, str)]
        if modifier == "missing":
            return (not texts) == (value == "true")
        if modifier == "exact":
            return any(t == q for q in value.split(",") for t in texts)
        if modifier == "contains":
            return any(_fold(q) in _fold(t) for q in value.split(",") for t in texts)
        return any(_fold(t).startswith(_fold(q)) for q in value.split(",") for t in texts)
    ranges = [r for v in values for r in _target_ranges(v)]
    if modifier == "missing":
        return (not ranges) == (value == "true")
    prefix = value[:2] if value[:2].isalpha() else "eq"
    search = date_range(value[2:] if value[:2].isalpha() else value)
    return any(date_matches(prefix, search, r) for r in ranges)
