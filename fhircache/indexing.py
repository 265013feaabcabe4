"""Extract the search index of one normalized resource from the parameter table.

Values are encoded as tab-separated text so a row keeps its whole index in four
small arrays (see `fhircache.models`). Dates become UTC ranges in a fixed-width
format, so comparing the strings compares the instants (FHIR R4 §3.1.1.4.6:
a date of lower precision stands for the whole interval it covers).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from fhircache.searchparams import params_of

SEP = "\t"
MIN_INSTANT = "0001-01-01T00:00:00.000000Z"
MAX_INSTANT = "9999-12-31T23:59:59.999999Z"
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")
_LOCAL_REF = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@dataclass
class Index:
    tokens: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)


def values_at(node: object, path: str) -> Iterator[object]:
    """Every value at a dotted element path below `node`, descending lists."""
    items = [node]
    for name in path.split("."):
        nxt: list[object] = []
        for item in items:
            if isinstance(item, dict) and name in item:
                value = item[name]
                if isinstance(value, list):
                    nxt.extend(value)
                else:
                    nxt.append(value)
        items = nxt
    yield from items


def _fmt(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def _end(year: int, month: int, day: int) -> str:
    return f"{year:04d}-{month:02d}-{day:02d}T23:59:59.999999Z"


@lru_cache(maxsize=8192)  # payer data repeats the same dates many times over
def date_range(value: str) -> tuple[str, str] | None:
    """The UTC interval a FHIR date, dateTime or instant stands for."""
    partial = _PARTIAL_DATE.match(value)
    if partial:
        year, month, day = partial.groups()
        y = int(year)
        if y < 1:
            return None
        if month is None:
            return f"{y:04d}-01-01T00:00:00.000000Z", f"{y:04d}-12-31T23:59:59.999999Z"
        m = int(month)
        if not 1 <= m <= 12:
            return None
        last = calendar.monthrange(y, m)[1]
        if day is None:
            return (
                f"{y:04d}-{m:02d}-01T00:00:00.000000Z",
                f"{y:04d}-{m:02d}-{last:02d}T23:59:59.999999Z",
            )
        d = int(day)
        if not 1 <= d <= last:
            return None
        return (
            f"{y:04d}-{m:02d}-{d:02d}T00:00:00.000000Z",
            f"{y:04d}-{m:02d}-{d:02d}T23:59:59.999999Z",
        )
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        low = _fmt(moment)
    except (ValueError, OverflowError):  # 9999-12-31T23:00-05:00 is past year 9999 in UTC
        return None
    return low, low


def _dates(value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        found = date_range(value)
        if found:
            yield found
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        start = date_range(value["start"]) if isinstance(value.get("start"), str) else None
        end = date_range(value["end"]) if isinstance(value.get("end"), str) else None
        if start or end:
            yield (start[0] if start else MIN_INSTANT), (end[1] if end else MAX_INSTANT)


def _tokens(value: object) -> Iterator[tuple[str, str]]:
    if isinstance(value, bool):
        yield "", "true" if value else "false"
    elif isinstance(value, str):
        yield "", value
    elif isinstance(value, dict):
        # structurally invalid resources are indexed too: only text is indexed
        system = value.get("system", "")
        system = system if isinstance(system, str) else ""
        if "coding" in value:  # CodeableConcept
            if isinstance(value["coding"], list):
                for coding in value["coding"]:
                    if isinstance(coding, dict):
                        yield from _tokens(coding)
        elif "code" in value:  # Coding
            if isinstance(value["code"], str):
                yield system, value["code"]
        elif "value" in value and isinstance(value["value"], str):  # Identifier
            yield system, value["value"]


def normalize_string(text: str) -> str:
    """Case- and accent-insensitive form for FHIR string search (R4 §3.1.1.4.9)."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):  # HumanName, Address: their text parts
        for key in (
            "text",
            "family",
            "given",
            "prefix",
            "suffix",
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
        ):
            part = value.get(key)
            if isinstance(part, str):
                yield part
            elif isinstance(part, list):
                yield from (p for p in part if isinstance(p, str))


def _refs(value: object, resolve: Callable[[str], str | None] | None) -> Iterator[str]:
    if isinstance(value, dict):
        ref = value.get("reference")
        if isinstance(ref, str):
            local = resolve(ref) if resolve else ref
            if local and _LOCAL_REF.match(local):
                yield local


def extract_index(resource: dict, resolve: Callable[[str], str | None] | None = None) -> Index:
    """The search index of a resource; `resolve` maps references to cache ids."""
    index = Index()
    resource_type = resource.get("resourceType")
    for param in params_of(resource_type if isinstance(resource_type, str) else ""):
        name = param.name
        seen: set[str] = set()
        for path in param.paths:
            for value in values_at(resource, path):
                if param.kind == "token":
                    entries = [
                        f"{name}{SEP}{s}{SEP}{c}"
                        for s, c in _tokens(value)
                        if SEP not in s and SEP not in c  # not valid FHIR; unindexable
                    ]
                    target = index.tokens
                elif param.kind == "reference":
                    entries = [f"{name}{SEP}{r}" for r in _refs(value, resolve)]
                    target = index.refs
                elif param.kind == "date":
                    entries = [f"{name}{SEP}{lo}{SEP}{hi}" for lo, hi in _dates(value)]
                    target = index.dates
                else:
                    entries = [f"{name}{SEP}{normalize_string(s)}" for s in _strings(value)]
                    target = index.strings
                for entry in entries:
                    if entry not in seen:
                        seen.add(entry)
                        target.append(entry)
    return index
