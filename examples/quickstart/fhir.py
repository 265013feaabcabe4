"""Reading Payerbridge's FHIR API: plain REST with the bearer token.

Every non-2xx answer carries a FHIR OperationOutcome; `ApiProblem` keeps what
an app needs to react to it (see DESIGN "States"):

- 429 + issue code `transient` + `Retry-After`: the first sync is still running;
- 429 + `throttled`: the app is over its request rate;
- 503 + `Retry-After`: the sync failed and a retry is scheduled;
- 502: the sync failed for good;
- 401: the token is no longer valid (consent revoked, expired or purged).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import requests

TIMEOUT = 30
PAGE_SIZE = 50


@dataclass
class ApiProblem(Exception):
    status: int
    code: str = ""  # OperationOutcome.issue[0].code
    diagnostics: str = ""
    retry_after: int | None = None

    def __str__(self) -> str:
        return f"HTTP {self.status} {self.code}: {self.diagnostics}".strip()


def _problem(response: requests.Response) -> ApiProblem:
    code, text = "", response.reason or ""
    try:
        issues = response.json().get("issue") or [{}]
        code = issues[0].get("code", "")
        text = issues[0].get("diagnostics") or issues[0].get("details", {}).get("text") or text
    except (ValueError, AttributeError):
        pass
    retry = response.headers.get("Retry-After", "")
    return ApiProblem(response.status_code, code, text, int(retry) if retry.isdigit() else None)


def get(session: requests.Session, url: str, **params) -> requests.Response:
    try:
        response = session.get(
            url, params=params or None, headers={"Accept": "application/fhir+json"}, timeout=TIMEOUT
        )
    except requests.RequestException as exc:
        raise ApiProblem(0, "unreachable", f"no answer from {url}: {type(exc).__name__}") from exc
    if not response.ok:
        raise _problem(response)
    return response


@dataclass
class SearchResult:
    """Every page of a search: matches in order, `_include`d resources by reference."""

    matches: list[dict] = field(default_factory=list)
    included: dict[str, dict] = field(default_factory=dict)
    total: int | None = None  # Bundle.total of the first page, when the server sends it
    pages: int = 0
    # data_state `partial`: an OperationOutcome entry (search.mode = outcome) says what is missing
    notes: list[str] = field(default_factory=list)


def _pages(session: requests.Session, base: str, url: str, params: dict) -> Iterator[dict]:
    bundle = get(session, url, **params).json()
    while True:
        yield bundle
        next_url = next(
            (link["url"] for link in bundle.get("link", []) if link.get("relation") == "next"), None
        )
        if not next_url:
            return
        # Never send the token anywhere but the FHIR server it was issued for.
        if not next_url.startswith(base + "/"):
            raise ApiProblem(0, "security", f"next link outside {base}: not followed")
        bundle = get(session, next_url).json()


def search_all(session: requests.Session, base: str, resource_type: str, **params) -> SearchResult:
    """A search followed through its `next` links (opaque, keyset-paged at Payerbridge)."""
    result = SearchResult()
    params.setdefault("_count", PAGE_SIZE)
    for bundle in _pages(session, base, f"{base}/{resource_type}", params):
        if result.pages == 0:
            result.total = bundle.get("total")
        result.pages += 1
        for entry in bundle.get("entry", []):
            resource = entry.get("resource") or {}
            mode = entry.get("search", {}).get("mode", "match")
            if mode == "match" and resource.get("resourceType") == resource_type:
                result.matches.append(resource)
            elif mode == "include":
                result.included[f"{resource.get('resourceType')}/{resource.get('id')}"] = resource
            elif mode == "outcome":
                result.notes += [i.get("diagnostics", "") for i in resource.get("issue", [])]
    return result
