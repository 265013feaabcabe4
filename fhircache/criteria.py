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


@dataclass(frozen=True)
class Reference:
    param: str
    targets: tuple[str, ...]  # "Type/id"


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


@dataclass(frozen=True)
class Id:
    ids: tuple[str, ...]


@dataclass(frozen=True)
class LastUpdated:
    op: DateOp
    low: str
    high: str


Criterion = Token | Reference | Date | String | Id | LastUpdated
