"""Searchset Bundles with paging in the style a profile asks for.

Two paging styles real payers use: `offset` (`startIndex`/`_count` in the
query, as Blue Button does) and `opaque` (HAPI-style `_getpages=<token>` on
the base URL). Next links are absolute, or path-only relative when the profile
says so (FHIR R4 §3.1.1.4 wants absolute; some payers do not comply).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.core import signing

from payers.sandbox.profiles import QuirkProfile

_SALT = "payers.sandbox.page"


@dataclass
class PageRequest:
    """Which result list and where in it; carried by opaque tokens."""

    slug: str
    patient_id: str
    path: str  # "ExplanationOfBenefit" or "Patient/123/$everything"
    params: dict[str, str]
    offset: int
    count: int

    def to_token(self) -> str:
        return signing.dumps(
            [self.slug, self.patient_id, self.path, self.params, self.offset, self.count],
            salt=_SALT,
            compress=True,
        )

    @classmethod
    def from_token(cls, token: str) -> PageRequest:
        """Raises `signing.BadSignature` for a forged or mangled token."""
        slug, patient_id, path, params, offset, count = signing.loads(token, salt=_SALT)
        return cls(slug, patient_id, path, params, int(offset), int(count))


def whole_number(value: str | None, default: int) -> int:
    """A non-negative integer query parameter; anything else is the default.

    ASCII digits only: `str.isdigit()` also accepts "²", which `int()` refuses.
    """
    if value and value.isascii() and value.isdigit():
        return int(value)
    return default


def page_size(profile: QuirkProfile, requested: str | None) -> int:
    """`_count` is honoured up to the payer's own page size."""
    return min(whole_number(requested, 0) or profile.page_size, profile.page_size)


def _link(base_url: str, profile: QuirkProfile, path: str, query: dict[str, Any]) -> str:
    url = f"{base_url}/{path}" if path else base_url
    if query:
        url = f"{url}?{urlencode(query)}"
    if profile.next_link == "relative":
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}" if parts.query else parts.path
    return url


def next_link(page: PageRequest, profile: QuirkProfile, base_url: str, total: int) -> str | None:
    following = page.offset + page.count
    if following >= total:
        return None
    if profile.paging == "offset":
        query = {**page.params, "_count": page.count, "startIndex": following}
        return _link(base_url, profile, page.path, query)
    nxt = PageRequest(page.slug, page.patient_id, page.path, page.params, following, page.count)
    return _link(base_url, profile, "", {"_getpages": nxt.to_token(), "_bundletype": "searchset"})


def searchset(
    entries: list[tuple[str, dict[str, Any]]],
    *,
    total: int,
    self_url: str,
    next_url: str | None,
) -> dict[str, Any]:
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {"fullUrl": url, "resource": resource, "search": {"mode": "match"}}
            for url, resource in entries
        ],
    }


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }
