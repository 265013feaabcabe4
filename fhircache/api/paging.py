"""Opaque paging links: a signed note of (consent, type, query, position, direction).

The link carries the whole query, so following it needs nothing else, and the
position of the row it continues from, so pages are keyset reads
(`repository.find`), never OFFSET. It is signed with the server's secret
(`django.core.signing`): an altered link, or one issued to another consent or
for another type, is a 400 and reads nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from django.core import signing

from fhircache.api.outcome import FhirError

PARAMETER = "_cursor"
_SALT = "payerbridge.fhir.paging"


@dataclass(frozen=True)
class PageLink:
    pairs: list[tuple[str, str]]  # the search's parameters
    position: tuple | None  # sort values of the row to continue from
    backward: bool = False  # read the rows before `position` (a "previous" link)
    lenient: bool = False


def encode(consent_id: object, resource_type: str, link: PageLink) -> str:
    payload = {
        "c": str(consent_id),
        "t": resource_type,
        "q": link.pairs,
        "p": list(link.position) if link.position is not None else None,
        "b": link.backward,
        "l": link.lenient,
    }
    return signing.dumps(payload, salt=_SALT, compress=True)


def decode(token: str, consent_id: object, resource_type: str) -> PageLink:
    try:
        payload = signing.loads(token, salt=_SALT)
    except signing.BadSignature:
        raise FhirError(
            400, "invalid", "This paging link is not valid here.", expression=PARAMETER
        ) from None
    if payload.get("c") != str(consent_id) or payload.get("t") != resource_type:
        raise FhirError(400, "invalid", "This paging link is not valid here.", expression=PARAMETER)
    position = payload.get("p")
    return PageLink(
        [(str(k), str(v)) for k, v in payload.get("q", [])],
        tuple(position) if position is not None else None,
        bool(payload.get("b")),
        bool(payload.get("l")),
    )


def url(base: str, resource_type: str, consent_id: object, link: PageLink) -> str:
    return f"{base}/{resource_type}?" + urlencode(
        {PARAMETER: encode(consent_id, resource_type, link)}
    )
