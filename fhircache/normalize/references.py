"""Step: resolve every reference and rewrite it to the cache's ids.

Resolution follows FHIR R4 §2.36.0.4 (Bundle, resolving references in
bundles): a reference that matches an entry's fullUrl (`urn:uuid:…` or
absolute) resolves to that entry; a relative `Type/id` and an absolute URL on
the payer's own base resolve to `Type/id`; `/_history/n` is dropped (the cache
keeps the current version only). `#id` points into `contained` and stays as it
is. Anything else (another server, an unknown urn:uuid, a conditional
reference) cannot be resolved: it is left as the payer sent it and reported.

The rewrite works on the compact JSON bytes orjson produced: there the key
`"reference":"` can only be a key (a quote inside a string is always escaped),
so a regular expression finds every Reference.reference without a Python walk
of the whole tree, which costs several times more on a large EOB.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from fhircache.normalize.ids import cache_id

_RELATIVE = re.compile(r"^([A-Z][A-Za-z]+)/([^/?#]+)(?:/_history/[^/?#]+)?$")
_ABSOLUTE = re.compile(r"^(https?://.+?)/([A-Z][A-Za-z]+)/([^/?#]+)(?:/_history/[^/?#]+)?$")
_REFERENCE_KEY = re.compile(rb'"reference":"((?:[^"\\]|\\.)*)"')


def base_of(url: str) -> str | None:
    """The service base of an absolute resource URL (`…/fhir/Patient/1` → `…/fhir`)."""
    match = _ABSOLUTE.match(url)
    return match.group(1).rstrip("/") if match else None


@dataclass
class ReferenceResolver:
    """Resolves the references of one page (bundle) of payer data."""

    full_urls: dict[str, str] = field(default_factory=dict)  # fullUrl -> "Type/cacheid"
    base_urls: set[str] = field(default_factory=set)

    @classmethod
    def for_page(
        cls, entries: Iterable[tuple[str | None, str, str]], base_urls: Iterable[str]
    ) -> ReferenceResolver:
        """From (fullUrl, resource type, cache id) of each entry and the payer's bases."""
        bases = {b.rstrip("/") for b in base_urls if b}
        full_urls: dict[str, str] = {}
        for full_url, resource_type, rid in entries:
            if full_url:
                full_urls[full_url] = f"{resource_type}/{rid}"
                base = base_of(full_url)
                if base:
                    bases.add(base)
        return cls(full_urls, bases)

    def resolve(self, reference: str) -> str | None:
        """`Type/cacheid`, the unchanged `#id` of a contained resource, or None."""
        if reference.startswith("#"):
            return reference
        if reference in self.full_urls:
            return self.full_urls[reference]
        match = _RELATIVE.match(reference)
        if match:
            return f"{match.group(1)}/{cache_id(match.group(2))}"
        match = _ABSOLUTE.match(reference)
        if match:
            unversioned = f"{match.group(1)}/{match.group(2)}/{match.group(3)}"
            if unversioned in self.full_urls:
                return self.full_urls[unversioned]
            if match.group(1).rstrip("/") in self.base_urls:
                return f"{match.group(2)}/{cache_id(match.group(3))}"
        return None


@dataclass
class Rewritten:
    data: bytes
    links: list[str]  # distinct local targets ("Type/id"), contained ones excluded
    unresolved: list[str]  # references left as the payer sent them


def rewrite_references(data: bytes, resolver: ReferenceResolver) -> Rewritten:
    """Rewrite every `Reference.reference` in orjson-compact JSON bytes."""
    links: dict[str, None] = {}
    unresolved: list[str] = []

    def replace(match: re.Match[bytes]) -> bytes:
        raw = match.group(1)
        reference = orjson.loads(b'"' + raw + b'"') if b"\\" in raw else raw.decode()
        resolved = resolver.resolve(reference)
        if resolved is None:
            unresolved.append(reference)
            return match.group(0)
        if resolved.startswith("#"):
            return match.group(0)
        links[resolved] = None
        if resolved == reference:
            return match.group(0)
        return b'"reference":' + orjson.dumps(resolved)

    out = _REFERENCE_KEY.sub(replace, data)
    return Rewritten(out, list(links), unresolved)
