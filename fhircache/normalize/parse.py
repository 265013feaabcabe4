"""Step 1: parse payer JSON with orjson, keeping every number token as written.

FHIR decimals carry their precision in their text (`100.00` is not `100.0`,
R4 §2.24.0.1 decimal) and integers may be larger than 64 bits. orjson parses a
number into a float or int, and writes that back in its shortest form, so
`100.00`, `0.10`, `1e3` and a 30-digit integer would not come back as sent.

Most pages survive that round trip unchanged, so the fast path stays orjson.
Whether a page does is decided on its bytes (`numbers_survive`); only a page
that does not is parsed again by the standard library with every number as an
`orjson.Fragment` of its exact text, which orjson writes verbatim.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import orjson


class ParseError(ValueError):
    pass


class Parsed(NamedTuple):
    """A JSON object its caller already parsed with orjson, beside its text: the loader
    takes the parse (and owns it) instead of parsing the text again, and still keeps
    every number as written from the text. The ETL parses each page to see what it
    holds; a page of 20 claims costs ~4 ms to parse, holding the GIL the sync's
    fetch threads wait for."""

    raw: bytes
    value: dict


# Everything but the characters of number tokens and those that can end one.
_NOT_NUMERIC = bytes(b for b in range(256) if b not in b"0123456789.-+eE,]}")


def numbers_survive(data: bytes, value: object) -> bool:
    """Whether orjson writes `value` (orjson's parse of `data`) back with every
    number token of `data` as written.

    Keep only the characters of number tokens and `,`, `]`, `}` (one of which
    ends every number token) of `data` and of orjson's output: the two are the
    same sequence exactly when no number token changed. Everything before the
    first changed token is the same (strings come back as they were, barring
    `\\u` escapes, which orjson writes as the character: such pages are not
    vouched for), and there the longer token has a number character where the
    shorter one is followed by its delimiter. Costs a few ns per byte, a
    fraction of the parse.
    """
    if b"\\u" in data:
        return False
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes: quarantined later
        return True
    return data.translate(None, _NOT_NUMERIC) == written.translate(None, _NOT_NUMERIC)


def _constant(name: str) -> None:
    raise ParseError(f"not JSON: {name}")


def parse_exact(data: bytes | str) -> object:
    """`data` parsed with every number as an `orjson.Fragment` of its exact text
    (the constructor itself is the hook: no Python call per number). Nothing in
    the normalizer reads numbers; validators read orjson's parse instead."""
    return json.loads(
        data, parse_float=orjson.Fragment, parse_int=orjson.Fragment, parse_constant=_constant
    )


def parse_page(
    data: bytes | bytearray | memoryview | str | dict | Parsed,
) -> tuple[dict, dict | None]:
    """(a JSON object, its twin with exact numbers or None) from bytes or text (or both).

    The twin is parsed again from the same text when a float/int round trip
    would change a number token: every decimal in it is an `orjson.Fragment`
    of its text, which orjson writes verbatim, and validators read the first
    (whose structure is the same). Dicts pass through unchanged, with no twin.
    """
    if isinstance(data, dict):
        return data, None
    if isinstance(data, Parsed):
        value, raw = data.value, data.raw
    else:
        value = parse(data)
        raw = data.encode() if isinstance(data, str) else bytes(data)
    if numbers_survive(raw, value):
        return value, None
    try:
        return value, parse_exact(raw)
    except RecursionError:  # deeper than the standard parser goes: orjson's
        return value, None  # parse stands; too-deep resources are quarantined


def parse(data: bytes | bytearray | memoryview | str | dict) -> dict:
    """A JSON object from bytes or text (dicts pass through unchanged)."""
    if isinstance(data, dict):
        return data
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ParseError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ParseError("not a JSON object")
    return value
