# ruff: noqa: S608 - SQL is assembled only from this module's constant fragments;
# every value is a bound parameter.
"""WHERE conditions for searches of the store, from `fhircache.criteria`.

Pure functions: they build SQL text and append the bound values to `params`;
`fhircache.repository` executes them, always with the consent's id first.
"""

from __future__ import annotations

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
        "ge": (f"{hi} >= {v_low}", (low,)),
        "lt": (f"{lo} < {v_low}", (low,)),
        "le": (f"{lo} <= {v_high}", (high,)),
        "sa": (f"{lo} > {v_high}", (high,)),
        "eb": (f"{hi} < {v_low}", (low,)),
        "ap": (f"{lo} <= {v_high} AND {hi} >= {v_low}", (high, low)),
    }
    sql, values = templates[op]
    params.extend(values)
    return f"({sql})"


# the field of each criterion kind that holds its OR-ed alternatives
_ALTERNATIVES = {c.Id: "ids", c.Reference: "targets", c.Token: "values", c.String: "values"}


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
    criterion = _without_nul(criterion)
    if criterion is None:
        return "FALSE"
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
        return f"EXISTS (SELECT 1 FROM unnest(r.tokens) t WHERE {ors})"
    if isinstance(criterion, c.Reference):
        params.append([f"{criterion.param}{SEP}{t}" for t in criterion.targets])
        return "r.refs && %s::text[]"
    if isinstance(criterion, c.String):
        for value in criterion.values:
            norm = normalize_string(value)
            norm = norm.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = {"start": f"{norm}%", "exact": norm, "contains": f"%{norm}%"}
            params.append(f"{criterion.param}{SEP}{pattern[criterion.mode]}")
            alternatives.append("s LIKE %s")
        ors = " OR ".join(alternatives)
        return f"EXISTS (SELECT 1 FROM unnest(r.strings) s WHERE {ors})"
    raise TypeError(f"unknown criterion {criterion!r}")


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
