"""SMART App Launch 2 scopes Payerbridge understands (read-only, patient context).

Both syntaxes are accepted (SMART 2 §"Scopes for requesting clinical data"):
v1 `patient/Observation.read` and v2 `patient/Observation.rs` (or `.r`, `.s`).
Anything else that is not one of the context scopes below is an unknown scope
and answers `invalid_scope` (RFC 6749 §4.1.2.1).
"""

from __future__ import annotations

import re

from consent.oauth.params import describable

CONTEXT_SCOPES = frozenset({"launch/patient", "offline_access", "openid", "fhirUser"})
# App-level tokens (client credentials) manage the app's own consents.
APP_LEVEL_SCOPE = "consents"
RESOURCE_SCOPE = re.compile(r"^patient/(\*|[A-Z][A-Za-z]{1,63})\.(read|rs|r|s)$")
DEFAULT_APP_SCOPES = "launch/patient openid fhirUser offline_access patient/*.read patient/*.rs"
SUPPORTED_FOR_DISCOVERY = [
    "launch/patient",
    "openid",
    "fhirUser",
    "offline_access",
    "patient/*.read",
    "patient/*.rs",
]


def split(scope: str | None) -> list[str]:
    return [s for s in (scope or "").split() if s]


def normalize(scope: str | None) -> str:
    """One space between scopes, each once, in the order requested (RFC 6749 §3.3)."""
    return " ".join(dict.fromkeys(split(scope)))


def is_known(scope: str) -> bool:
    return scope in CONTEXT_SCOPES or scope == APP_LEVEL_SCOPE or bool(RESOURCE_SCOPE.match(scope))


def unknown(scope: str | None) -> list[str]:
    return [s for s in split(scope) if not is_known(s)]


def unknown_description(scope: str | None) -> str:
    """`error_description` for unknown scopes; RFC 6749 §5.2 allows few characters in it."""
    names = [s for s in unknown(scope) if describable(s)]
    return f"Unknown scope: {' '.join(names)}" if names else "Unknown scope."


def _permissions(action: str) -> set[str]:
    return {"r", "s"} if action in ("read", "rs") else {action}


def permits(allowed: str, requested: str) -> bool:
    """Whether one allowed scope covers `requested` (wildcard type, v1 = v2 `rs`)."""
    if allowed == requested:
        return True
    a, r = RESOURCE_SCOPE.match(allowed), RESOURCE_SCOPE.match(requested)
    if not (a and r):
        return False
    type_ok = a.group(1) in ("*", r.group(1))
    return type_ok and _permissions(r.group(2)) <= _permissions(a.group(2))


def all_permitted(allowed: str, requested: str | None) -> bool:
    allowed_list = split(allowed)
    return all(any(permits(a, s) for a in allowed_list) for s in split(requested))


def resource_scopes(scope: str | None) -> list[str]:
    return [s for s in split(scope) if RESOURCE_SCOPE.match(s)]


def describe(scope: str | None) -> list[str]:
    """Plain-language lines for the patient's review page."""
    lines: list[str] = []
    for s in resource_scopes(scope):
        kind = RESOURCE_SCOPE.match(s).group(1)  # type: ignore[union-attr]
        lines.append("All of your health plan records" if kind == "*" else f"Your {kind} records")
    if "openid" in split(scope) or "fhirUser" in split(scope):
        lines.append("Your identity as a member of the plan")
    if "offline_access" in split(scope):
        lines.append("Updates while the consent lasts, without asking you again")
    return list(dict.fromkeys(lines))
