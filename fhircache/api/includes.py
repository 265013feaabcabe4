"""`_include` and `_revinclude` (FHIR R4 §3.1.1.5.4), over one consent's rows only.

Forward includes follow the reference index entries (`refs`, "param\\tType/id")
of the rows found; reverse includes search the source type for references to
them. `:iterate` repeats both on what was just included, a bounded number of
rounds. Types the token may not read are never included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fhircache import criteria as c
from fhircache import repository
from fhircache.api.query import Include
from fhircache.indexing import SEP
from fhircache.repository import StoredResource

MAX_INCLUDED = 5000
MAX_ROUNDS = 4


def _targets(row: StoredResource, include: Include) -> Iterable[str]:
    for entry in row.refs:
        param, _, target = entry.partition(SEP)
        if include.param not in ("*", param):
            continue
        if include.target_type and not target.startswith(include.target_type + "/"):
            continue
        yield target


def resolve(
    consent,
    matches: list[StoredResource],
    includes: list[Include],
    revincludes: list[Include],
    may_read: Callable[[str], bool],
) -> tuple[list[StoredResource], bool]:
    """(included rows, whether the MAX_INCLUDED cap cut them short)."""
    readable: dict[str, bool] = {}  # a page references few types, each many times

    def may(rtype: str) -> bool:
        if rtype not in readable:
            readable[rtype] = may_read(rtype)
        return readable[rtype]

    seen = {row.key for row in matches}
    found: list[StoredResource] = []
    frontier = matches
    for round_ in range(MAX_ROUNDS):
        applicable = [i for i in includes if round_ == 0 or i.iterate]
        reverse = [i for i in revincludes if round_ == 0 or i.iterate]
        if not frontier or not (applicable or reverse):
            break
        wanted = {
            target
            for include in applicable
            for row in frontier
            if row.resource_type == include.source_type
            for target in _targets(row, include)
            if target not in seen and may(target.split("/", 1)[0])
        }
        new = [row for row in repository.read_many(consent, wanted) if row.key not in seen]
        seen.update(row.key for row in new)
        keys = tuple(row.key for row in frontier)
        for include in reverse:
            room = MAX_INCLUDED - len(found) - len(new)
            if room <= 0 or not may(include.source_type):
                continue
            criterion = c.Links(keys) if include.param == "*" else c.Reference(include.param, keys)
            page = repository.find(consent, include.source_type, [criterion], limit=room)
            fresh = [row for row in page.rows if row.key not in seen]
            seen.update(row.key for row in fresh)
            new.extend(fresh)
        found.extend(new)
        if len(found) >= MAX_INCLUDED:
            return found[:MAX_INCLUDED], True
        frontier = new
    return found, False
