"""Search criteria the repository understands (built by the FHIR search layer).

Each criterion holds alternatives (a FHIR comma list = OR); criteria are ANDed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ANY = None  # a token system that matches any system


@dataclass(frozen=True)
class Token:
    """`param=[system|]code`: system ANY (None) = any, "" = no system; code None = any."""

    param: str
    values: tuple[tuple[str | None, str | None], ...]
    negate: bool = False  # `:not`: resources with no matching value (missing ones too)


@dataclass(frozen=True)
class Reference:
    param: str
    targets: tuple[str, ...]  # "Type/id", or a bare "id" for a target of any type


DateOp = Literal["eq", "ne", "lt", "le", "gt", "ge", "sa", "eb", "ap"]


@dataclass(frozen=True)
class Date:
    """FHIR date comparison (R4 §3.1.1.4.6) of a value's range [low, high] (UTC,
    `fhircache.indexing` format) with each indexed range of the parameter."""

    param: str
    op: DateOp
    low: str
    high: str


@dataclass(frozen=True)
class String:
    """Starts-with (default), `exact` or `contains` match on normalized text."""

    param: str
    values: tuple[str, ...]
    mode: Literal["start", "exact", "contains"] = "start"
    # the parameter's element paths: with `exact`, a value must also equal the text of
    # one of them as stored (the index is case- and accent-folded; :exact is not)
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Id:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class LastUpdated:
    op: DateOp
    low: str
    high: str


@dataclass(frozen=True)
class Missing:
    """`param:missing=true|false`: whether the resource has no indexed value for it."""

    param: str
    kind: Literal["token", "reference", "date", "string"]
    missing: bool


@dataclass(frozen=True)
class Links:
    """Resources holding a local reference to any of `targets` ("Type/id"), through any
    element (for `_revinclude=Type:*`)."""

    targets: tuple[str, ...]


@dataclass(frozen=True)
class Sort:
    """One `_sort` key: `_id`, `_lastUpdated` or an indexed parameter of `kind`."""

    param: str
    kind: Literal["token", "reference", "date", "string"] | None = None
    descending: bool = False


Criterion = Token | Reference | Date | String | Id | LastUpdated | Missing | Links
