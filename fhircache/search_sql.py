# ruff: noqa: S608 - SQL is assembled only from this module's constant fragments;
# every value is a bound parameter.
"""WHERE conditions for searches of the store, from `fhircache.criteria`.

Pure functions: they build SQL text and append the bound values to `params`;
`fhircache.repository` executes them, always with the consent's id first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import astuple, replace

from fhircache import criteria as c
from fhircache.indexing import SEP, normalize_string


def holds_nul(value: object) -> bool:
    """Whether a value (or any part of a criterion) contains U+0000.

    PostgreSQL text cannot carry it (psycopg refuses to send it) and the loader
    quarantines every resource holding one, so such a value matches nothing.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, tuple | list):
        return any(holds_nul(v) for v in value)
    return False


def _date_condition(
    op: str, lo: str, hi: str, low: str, high: str, params: list, *, instant_column: bool
) -> str:
    """FHIR R4 §3.1.1.4.6 prefixes: indexed range [lo, hi] against value [low, high].

    Index ranges are fixed-width UTC text; `last_updated` is a timestamptz column,
    against which the value's text is cast.
    """
    cast = "::timestamptz" if instant_column else ""
    v_low, v_high = f"%s{cast}", f"%s{cast}"
    templates = {
        "eq": (f"{lo} >= {v_low} AND {hi} <= {v_high}", (low, high)),
        "ne": (f"NOT ({lo} >= {v_low} AND {hi} <= {v_high})", (low, high)),
        "gt": (f"{hi} > {v_high}", (high,)),
        # ge/le: the range above (below) the value overlaps the target's, or the
        # value's range contains it (a period straddling the value's start is not ge)
        "ge": (f"{hi} > {v_high} OR ({lo} >= {v_low} AND {hi} <= {v_high})", (high, low, high)),
        "lt": (f"{lo} < {v_low}", (low,)),
        "le": (f"{lo} < {v_low} OR ({lo} >= {v_low} AND {hi} <= {v_high})", (low, low, high)),
        "sa": (f"{lo} > {v_high}", (high,)),
        "eb": (f"{hi} < {v_low}", (low,)),
        "ap": (f"{lo} <= {v_high} AND {hi} >= {v_low}", (high, low)),
    }
    sql, values = templates[op]
    params.extend(values)
    return f"({sql})"


# the field of each criterion kind that holds its OR-ed alternatives
_ALTERNATIVES = {
    c.Id: "ids",
    c.Reference: "targets",
    c.Token: "values",
    c.String: "values",
    c.Links: "targets",
}
# the index array of each parameter kind
_ARRAYS = {"token": "r.tokens", "reference": "r.refs", "date": "r.dates", "string": "r.strings"}


def _without_nul(criterion: c.Criterion) -> c.Criterion | None:
    """The criterion without alternatives that hold U+0000 (they match nothing);
    None when nothing of it can match."""
    name = _ALTERNATIVES.get(type(criterion))
    if name is None:
        return None if holds_nul(astuple(criterion)) else criterion
    kept = tuple(v for v in getattr(criterion, name) if not holds_nul(v))
    if not kept or holds_nul(getattr(criterion, "param", "")):
        return None
    return replace(criterion, **{name: kept})


def _where(criterion: c.Criterion, params: list) -> str:
    negated = isinstance(criterion, c.Token) and criterion.negate
    criterion = _without_nul(criterion)
    if criterion is None:
        return "TRUE" if negated else "FALSE"
    if isinstance(criterion, c.Missing):
        params.append(criterion.param)
        exists = (
            f"EXISTS (SELECT 1 FROM unnest({_ARRAYS[criterion.kind]}) x"
            " WHERE split_part(x, E'\\t', 1) = %s)"
        )
        return f"NOT {exists}" if criterion.missing else exists
    if isinstance(criterion, c.Links):
        params.append(list(criterion.targets))
        return "r.links && %s::text[]"
    if isinstance(criterion, c.Id):
        params.append(list(criterion.ids))
        return "r.resource_id = ANY(%s)"
    if isinstance(criterion, c.LastUpdated):
        return _date_condition(
            criterion.op,
            "r.last_updated",
            "r.last_updated",
            criterion.low,
            criterion.high,
            params,
            instant_column=True,
        )
    if isinstance(criterion, c.Date):
        params.append(criterion.param)
        cond = _date_condition(
            criterion.op, "lo", "hi", criterion.low, criterion.high, params, instant_column=False
        )
        return (
            "EXISTS (SELECT 1 FROM (SELECT split_part(d, E'\\t', 2) AS lo,"
            " split_part(d, E'\\t', 3) AS hi FROM unnest(r.dates) d"
            " WHERE split_part(d, E'\\t', 1) = %s) x WHERE " + cond + ")"
        )
    alternatives: list[str] = []
    if isinstance(criterion, c.Token):
        for system, code in criterion.values:
            conds = ["split_part(t, E'\\t', 1) = %s"]
            params.append(criterion.param)
            if system is not None:
                conds.append("split_part(t, E'\\t', 2) = %s")
                params.append(system)
            if code is not None:
                conds.append("split_part(t, E'\\t', 3) = %s")
                params.append(code)
            alternatives.append(" AND ".join(conds))
        ors = " OR ".join(f"({a})" for a in alternatives)
        found = f"EXISTS (SELECT 1 FROM unnest(r.tokens) t WHERE {ors})"
        return f"NOT {found}" if criterion.negate else found
    if isinstance(criterion, c.Reference):
        typed = [t for t in criterion.targets if "/" in t]
        bare = [t for t in criterion.targets if "/" not in t]
        parts = []
        if typed:
            params.append([f"{criterion.param}{SEP}{t}" for t in typed])
            parts.append("r.refs && %s::text[]")
        if bare:  # `patient=123`: a target of any type with that id
            params.extend([criterion.param, bare])
            parts.append(
                "EXISTS (SELECT 1 FROM unnest(r.refs) x WHERE split_part(x, E'\\t', 1) = %s"
                " AND split_part(x, '/', 2) = ANY(%s))"
            )
        return "(" + " OR ".join(parts) + ")"
    if isinstance(criterion, c.String):
        for value in criterion.values:
            norm = normalize_string(value)
            norm = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = {"start": f"{norm}%", "exact": norm, "contains": f"%{norm}%"}
            params.append(f"{criterion.param}{SEP}{pattern[criterion.mode]}")
            alternatives.append("s LIKE %s")
        ors = " OR ".join(alternatives)
        found = f"EXISTS (SELECT 1 FROM unnest(r.strings) s WHERE {ors})"
        if criterion.mode == "exact" and criterion.paths:
            found += " AND " + _exact_text(criterion, params)
        return found
    raise TypeError(f"unknown criterion {criterion!r}")


_ELEMENT_PATH = re.compile(r"^[A-Za-z]+(?:\.[A-Za-z]+)*$")


def _exact_text(criterion: c.String, params: list) -> str:
    """`:exact` (R4 §3.1.1.4.9): some text at the parameter's paths equals a value,
    case and accents included. Checked on the stored JSON of the rows the folded
    index already selected; paths come from the searchparams table and are checked
    before they are written into the SQL text."""
    if not all(_ELEMENT_PATH.match(p) for p in criterion.paths):
        raise ValueError(f"cannot match paths {criterion.paths!r}")
    params.append(list(criterion.values))
    tests = " OR ".join(
        f"jsonb_path_exists(d.j, 'lax $.{path}.** ? (@ == $v)', jsonb_build_object('v', v))"
        for path in criterion.paths
    )
    return (
        "EXISTS (SELECT 1 FROM (SELECT convert_from(r.content, 'UTF8')::jsonb AS j) d,"
        f" unnest(%s::text[]) v WHERE {tests})"
    )


def conditions(
    resource_type: str | None, criteria: Sequence[c.Criterion], params: list
) -> list[str]:
    """The WHERE conditions of a search of one consent (its id is params[0])."""
    where = ["r.consent_id = %s"]
    if resource_type and holds_nul(resource_type):
        where.append("FALSE")
    elif resource_type:
        where.append("r.resource_type = %s")
        params.append(resource_type)
    for criterion in criteria:
        where.append(_where(criterion, params))
    return where


# --- sorting and keyset paging -----------------------------------------------------

_PARAM_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,63}$", re.IGNORECASE)
# which part of an index entry a kind sorts on (date: the low end ascending, the
# high end descending, FHIR R4 §3.1.1.5.4)
_SORT_PART = {"token": 3, "reference": 2, "string": 2}
TIEBREAK = (("r.resource_type", False), ("r.resource_id", False))


def sort_expression(key: c.Sort) -> str:
    """The SQL value one `_sort` key orders by; rows without a value sort as ''.

    Parameter names come from the searchparams table and are checked here
    before being written into the SQL text as literals.
    """
    if key.param == "_id":
        return "r.resource_id"
    if key.param == "_lastUpdated":
        return "r.last_updated"
    if key.kind not in _ARRAYS or not _PARAM_NAME.match(key.param):
        raise ValueError(f"cannot sort on {key!r}")
    if key.kind == "date":
        part, pick = (3, "max") if key.descending else (2, "min")
    else:
        part, pick = _SORT_PART[key.kind], "max" if key.descending else "min"
    return (
        f"COALESCE((SELECT {pick}(split_part(x, E'\\t', {part})) FROM unnest({_ARRAYS[key.kind]}) x"
        f" WHERE split_part(x, E'\\t', 1) = '{key.param}'), '')"
    )


def order_keys(sort: Sequence[c.Sort]) -> list[tuple[str, bool, str]]:
    """(expression, descending, placeholder) per key, ending in the unique (type, id)."""
    keys: list[tuple[str, bool, str]] = []
    for key in sort:
        expression = sort_expression(key)
        cast = "%s::timestamptz" if key.param == "_lastUpdated" else "%s"
        if all(expression != k[0] for k in keys):
            keys.append((expression, key.descending, cast))
    for expression, descending in TIEBREAK:
        if all(expression != k[0] for k in keys):
            keys.append((expression, descending, "%s"))
    return keys


def keyset_condition(
    keys: Sequence[tuple[str, bool, str]], position: Sequence, params: list, *, backward: bool
) -> str:
    """Rows strictly after `position` in the order of `keys` (before it when `backward`).

    Written as an OR of prefixes so keys may mix directions:
    (k1 > v1) OR (k1 = v1 AND k2 < v2) OR ...
    """
    ors = []
    for i, (expression, descending, cast) in enumerate(keys):
        ands = []
        for prior, _, prior_cast in keys[:i]:
            ands.append(f"{prior} = {prior_cast}")
        later = descending == backward  # ascending forward, or descending backward
        ands.append(f"{expression} {'>' if later else '<'} {cast}")
        ors.append("(" + " AND ".join(ands) + ")")
        params.extend([*position[:i], position[i]])
    return "(" + " OR ".join(ors) + ")"
