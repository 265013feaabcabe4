"""SMART resource scopes, v1 (`patient/Observation.read`) and v2 (`patient/Observation.rs`).

SMART App Launch 2 §3.1: a v2 permission string is a subset of `cruds` in that
order; v1's `read` and `*` grant reading and searching. Query restrictions
(`?category=...`) are accepted and ignored by the sandbox.
"""

from __future__ import annotations

import re

_SCOPE = re.compile(r"^(patient|user|system)/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)(\?.*)?$")
_V2 = re.compile(r"^c?r?u?d?s?$")


def allows(scope: str, resource_type: str, interaction: str) -> bool:
    """Whether the granted `scope` string permits `interaction` ("r" read, "s" search)."""
    for item in scope.split():
        match = _SCOPE.match(item)
        if match is None:
            continue
        _, rtype, permission, _ = match.groups()
        if rtype not in ("*", resource_type):
            continue
        if permission in ("read", "*"):
            return True
        if permission != "write" and _V2.match(permission) and interaction in permission:
            return True
    return False
