"""Step 1: parse payer JSON with orjson."""

from __future__ import annotations

import orjson


class ParseError(ValueError):
    pass


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
