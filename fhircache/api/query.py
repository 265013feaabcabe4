"""FHIR search parameters → repository criteria (FHIR R4 §3.1.1), pure and strict.

`parse(resource_type, pairs)` reads the (name, value) pairs of one search —
query string and form body together — and returns a `SearchQuery`, or raises
`FhirError` 400 naming the parameter at fault: unknown names, modifiers a kind
does not have, malformed dates, prefixes, `_sort` keys, `_count`, `_include`s.
With `lenient` (`Prefer: handling=lenient`) such a parameter is left out and
listed in `SearchQuery.ignored` instead. Nothing malformed reaches the
repository. Repeating a parameter ANDs it; a comma inside a value ORs (`\\,`
is a literal comma).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fhircache import criteria as c
from fhircache.api.outcome import FhirError, invalid_parameter
from fhircache.indexing import date_range
from fhircache.searchparams import SearchParam, params_of

DEFAULT_COUNT = 50
MAX_COUNT = 1000
# handled by content negotiation or paging, never search criteria
FORMAT_PARAMETERS = frozenset({"_format", "_pretty"})
RESULT_PARAMETERS = frozenset(
    {"_count", "_sort", "_include", "_revinclude", "_summary", "_total", "_elements"}
)
_UNSUPPORTED = frozenset(
    {"_has", "_text", "_content", "_list", "_query", "_filter", "_contained", "_containedType"}
)
_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
_DATE = re.compile(
    r"^(?P<prefix>eq|ne|gt|lt|ge|le|sa|eb|ap)?"
    r"(?P<value>\d{4}(?:-\d{2}(?:-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?"
    r"(?:Z|[+-]\d{2}:\d{2})?)?)?)?)$"
)
_ELEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
_TYPE = re.compile(r"^[A-Z][A-Za-z]{1,63}$")
_MODIFIERS = {
    "token": {"", "not", "missing"},
    "reference": {"", "missing"},  # and a resource type (`patient:Patient=1`)
    "date": {"", "missing"},
    "string": {"", "exact", "contains", "missing"},
}


@dataclass(frozen=True)
class Include:
    """`_include=Source:param[:Target]` / `_revinclude=Source:param` (param may be `*`)."""

    source_type: str
    param: str
    target_type: str | None = None
    iterate: bool = False


@dataclass
class SearchQuery:
    resource_type: str
    criteria: list[c.Criterion] = field(default_factory=list)
    sort: list[c.Sort] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    includes: list[Include] = field(default_factory=list)
    revincludes: list[Include] = field(default_factory=list)
    summary: str | None = None  # "count" or "data"
    # "none", "estimate", "accurate"; None (not asked): the server's choice, see search._total
    total: str | None = None
    elements: tuple[str, ...] | None = None
    ignored: list[str] = field(default_factory=list)  # lenient: what was left out, and why
    notes: list[str] = field(default_factory=list)  # e.g. `_count` lowered to the maximum


def type_params(resource_type: str) -> tuple[SearchParam, ...]:
    """The indexed parameters of a type, those of every type (`_tag`, ...) included."""
    return params_of(resource_type)


def param_of(resource_type: str, name: str) -> SearchParam | None:
    for param in type_params(resource_type):
        if param.name == name:
            return param
    return None


def split_values(value: str) -> list[str]:
    """A parameter value split at unescaped commas, escapes (`\\,` `\\|` `\\$` `\\\\`) kept
    for `_split_token`, which needs to tell an escaped `|` from a separator."""
    parts, current, i = [], "", 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current += value[i : i + 2]
            i += 2
            continue
        if ch == ",":
            parts.append(current)
            current = ""
        else:
            current += ch
        i += 1
    parts.append(current)
    return parts


def _unescape(text: str) -> str:
    return re.sub(r"\\([,|$\\])", r"\1", text)


def _split_token(text: str) -> tuple[str | None, str | None]:
    """`system|code`, `|code` (no system), `system|` (any code), `code` (any system)."""
    match = re.search(r"(?<!\\)\|", text)
    if match is None:
        return None, _unescape(text) or None
    system, code = text[: match.start()], text[match.end() :]
    return _unescape(system), (_unescape(code) or None)


# --- dates ---------------------------------------------------------------------------


def _fmt(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}Z"


def value_range(text: str) -> tuple[str, str] | None:
    """The interval a search date stands for, by its precision (R4 §3.1.1.4.6).

    A date is its whole day/month/year; a time without seconds its minute; a
    time with seconds that second; one with a fraction that instant. A time
    without a zone is taken as UTC.
    """
    if "T" not in text:
        return date_range(text)
    date_part, time_part = text.split("T", 1)
    zone = ""
    zoned = re.match(r"^(.*?)(Z|[+-]\d{2}:\d{2})$", time_part)
    if zoned:
        time_part, zone = zoned.groups()
    pieces = time_part.split(":")
    precision = timedelta(minutes=1) if len(pieces) == 2 else timedelta(seconds=1)
    if len(pieces) == 2:
        time_part += ":00"
    elif "." in time_part:
        precision = timedelta(0)
        whole, fraction = time_part.split(".")
        time_part = f"{whole}.{fraction[:6].ljust(6, '0')}"
    try:
        moment = datetime.fromisoformat(f"{date_part}T{time_part}{zone.replace('Z', '+00:00')}")
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        high = moment + precision - (timedelta(microseconds=1) if precision else timedelta(0))
        return _fmt(moment), _fmt(high)
    except (OverflowError, ValueError):
        return None


def _approximately(low: str, high: str, now: datetime) -> tuple[str, str]:
    """`ap`: widened by 10% of the gap between now and the value (R4 §3.1.1.4.6)."""
    lo = datetime.fromisoformat(low.replace("Z", "+00:00"))
    hi = datetime.fromisoformat(high.replace("Z", "+00:00"))
    gap = abs(now - lo) * 0.1
    try:
        return _fmt(lo - gap), _fmt(hi + gap)
    except (OverflowError, ValueError):
        return low, high


def parse_date(name: str, value: str, *, now: datetime | None = None) -> tuple[str, str, str]:
    """(prefix, low, high) of one date value; 400 when malformed."""
    match = _DATE.match(value)
    if match is None:
        if value[:2].isalpha() and value[:2] not in _PREFIXES:
            raise invalid_parameter(name, f"unknown prefix {value[:2]!r}")
        raise invalid_parameter(name, f"{value!r} is not a FHIR date, dateTime or instant")
    prefix = match["prefix"] or "eq"
    found = value_range(match["value"])
    if found is None:
        raise invalid_parameter(name, f"{match['value']!r} is not a valid date")
    low, high = found
    if prefix == "ap":
        low, high = _approximately(low, high, now or datetime.now(UTC))
    return prefix, low, high


# --- one parameter -------------------------------------------------------------------


def _reference_target(value: str, type_modifier: str | None, base_url: str) -> str:
    """`Type/id`, a bare `id` (any type) or our own absolute URL, as stored ("Type/id")."""
    value = _unescape(value)
    if "://" in value:
        prefix = base_url.rstrip("/") + "/"
        value = value[len(prefix) :] if base_url and value.startswith(prefix) else value
    value = re.sub(r"/_history/[^/]*$", "", value)
    if type_modifier and "/" not in value:
        return f"{type_modifier}/{value}"
    return value


def criterion_for(
    resource_type: str, name: str, modifier: str, value: str, *, base_url: str = ""
) -> c.Criterion:
    """The criterion of one `name[:modifier]=value` (a search parameter, not a result one)."""
    label = f"{name}:{modifier}" if modifier else name
    if name == "_id":
        if modifier:
            raise invalid_parameter(label, "_id takes no modifier")
        return c.Id(tuple(_unescape(v) for v in split_values(value)))
    if name == "_lastUpdated":
        if modifier:
            raise invalid_parameter(label, "_lastUpdated takes no modifier")
        values = split_values(value)
        if len(values) > 1:
            raise invalid_parameter(label, "give one date per parameter (repeat it to AND)")
        return c.LastUpdated(*parse_date(label, values[0]))
    param = param_of(resource_type, name)
    if param is None:
        raise invalid_parameter(label, f"not a search parameter of {resource_type}")
    kind = param.kind
    type_modifier = modifier if kind == "reference" and _TYPE.match(modifier or "") else None
    if modifier not in _MODIFIERS[kind] and type_modifier is None:
        raise invalid_parameter(label, f"modifier :{modifier} is not supported on a {kind}")
    if modifier == "missing":
        if value not in ("true", "false"):
            raise invalid_parameter(label, ":missing takes true or false")
        return c.Missing(name, kind, value == "true")
    values = split_values(value)
    if kind == "token":
        return c.Token(name, tuple(_split_token(v) for v in values), negate=modifier == "not")
    if kind == "reference":
        return c.Reference(
            name, tuple(_reference_target(v, type_modifier, base_url) for v in values)
        )
    if kind == "string":
        mode = {"": "start", "exact": "exact", "contains": "contains"}[modifier]
        return c.String(name, tuple(_unescape(v) for v in values), mode, param.paths)
    if len(values) > 1:
        raise invalid_parameter(label, "give one date per parameter (repeat it to AND)")
    return c.Date(name, *parse_date(label, values[0]))


def _include(resource_type: str, name: str, modifier: str, value: str) -> Include:
    label = f"{name}:{modifier}" if modifier else name
    if modifier not in ("", "iterate", "recurse"):
        raise invalid_parameter(label, f"modifier :{modifier} is not supported")
    parts = value.split(":")
    if len(parts) not in (2, 3) or not _TYPE.match(parts[0]):
        raise invalid_parameter(label, f"{value!r} is not Type:parameter[:TargetType]")
    source, param_name = parts[0], parts[1]
    target = parts[2] if len(parts) == 3 else None
    if target is not None and not _TYPE.match(target):
        raise invalid_parameter(label, f"{target!r} is not a resource type")
    if param_name != "*":
        param = param_of(source, param_name)
        if param is None or param.kind != "reference":
            raise invalid_parameter(label, f"{source}:{param_name} is not a reference parameter")
    iterate = modifier in ("iterate", "recurse")
    if name == "_include" and not iterate and source != resource_type:
        raise invalid_parameter(
            label, f"{value!r} does not apply to {resource_type}; use _include:iterate"
        )
    return Include(source, param_name, target, iterate)


def _sort(resource_type: str, value: str) -> list[c.Sort]:
    keys = []
    for item in value.split(","):
        descending = item.startswith("-")
        name = item[1:] if descending else item
        if name in ("_id", "_lastUpdated"):
            keys.append(c.Sort(name, None, descending))
            continue
        param = param_of(resource_type, name)
        if param is None:
            raise invalid_parameter("_sort", f"cannot sort {resource_type} on {name!r}")
        keys.append(c.Sort(name, param.kind, descending))
    return keys


def _result_parameter(query: SearchQuery, name: str, modifier: str, value: str) -> None:
    if name in ("_include", "_revinclude"):
        target = query.includes if name == "_include" else query.revincludes
        target.append(_include(query.resource_type, name, modifier, value))
        return
    if modifier:
        raise invalid_parameter(f"{name}:{modifier}", "takes no modifier")
    if name == "_count":
        if not value.isdigit():
            raise invalid_parameter(name, f"{value!r} is not a non-negative integer")
        query.count = int(value)
        if query.count > MAX_COUNT:
            query.notes.append(f"_count lowered from {value} to the maximum, {MAX_COUNT}.")
            query.count = MAX_COUNT
    elif name == "_sort":
        query.sort = _sort(query.resource_type, value)
    elif name == "_summary":
        if value not in ("count", "false", "data"):
            raise invalid_parameter(name, f"{value!r} is not supported (count, data, false)")
        query.summary = None if value == "false" else value
    elif name == "_total":
        if value not in ("none", "estimate", "accurate"):
            raise invalid_parameter(name, f"{value!r} is not none, estimate or accurate")
        query.total = value
    elif name == "_elements":
        names = tuple(v.strip() for v in value.split(","))
        bad = [n for n in names if not _ELEMENT.match(n)]
        if bad:
            raise invalid_parameter(name, f"{bad[0]!r} is not an element name")
        query.elements = names


def parse(
    resource_type: str,
    pairs: list[tuple[str, str]],
    *,
    lenient: bool = False,
    base_url: str = "",
) -> SearchQuery:
    query = SearchQuery(resource_type)
    for raw_name, value in pairs:
        name, _, modifier = raw_name.partition(":")
        if name in FORMAT_PARAMETERS:
            continue
        try:
            if name in RESULT_PARAMETERS:
                _result_parameter(query, name, modifier, value)
            elif name in _UNSUPPORTED or "." in name:
                raise invalid_parameter(
                    raw_name, "chained, reverse-chained and text search are not supported"
                )
            elif value == "":
                continue  # an empty search parameter is no criterion
            else:
                query.criteria.append(
                    criterion_for(resource_type, name, modifier, value, base_url=base_url)
                )
        except FhirError as error:
            if not lenient:
                raise
            query.ignored.append(error.diagnostics)
    return query
