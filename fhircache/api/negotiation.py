"""Content negotiation and rendering of FHIR JSON (FHIR R4 §3.1.0.1.10 and §3.1.1.5).

Accepted: `application/fhir+json` (the R4 mime type), `application/json` and
the DSTU2 spelling `application/json+fhir`, by `Accept` or `_format` (`json`
too). `_format` always wins over `Accept` and never causes a 406: an XML or
unknown `_format` still gets JSON (the only thing we serve). `_pretty=true`
indents the body without reparsing numbers into floats: numbers stay as the
payer wrote them (`100.00`). Bodies are bytes, sent as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import orjson
from django.http import HttpRequest

from fhircache.api.outcome import FhirError

FHIR_JSON = "application/fhir+json"
JSON_TYPES = {FHIR_JSON, "application/json", "application/json+fhir"}
_FORMAT_ALIASES = {"json": FHIR_JSON, **{t: t for t in JSON_TYPES}}
_WILDCARDS = {"*/*", "application/*"}


@dataclass(frozen=True)
class Rendering:
    content_type: str = FHIR_JSON
    pretty: bool = False

    @property
    def header(self) -> str:
        return f"{self.content_type}; charset=utf-8"


def _media_types(accept: str) -> list[str]:
    """The media types of an `Accept` header, q=0 ones ("not acceptable") left out."""
    types = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 1.0
        if media and quality > 0:
            types.append(media.lower())
    return types


def negotiate(request: HttpRequest) -> Rendering:
    """The rendering the client asked for; 406 only for an `Accept` we cannot meet."""
    pretty = request.GET.get("_pretty", "").lower() == "true"
    fmt = request.GET.get("_format", "").strip().lower().split(";")[0].strip()
    if fmt:
        return Rendering(_FORMAT_ALIASES.get(fmt, FHIR_JSON), pretty)
    accept = request.headers.get("Accept", "")
    if not accept:
        return Rendering(FHIR_JSON, pretty)
    for media in _media_types(accept):
        if media in JSON_TYPES:
            return Rendering(media, pretty)
        if media in _WILDCARDS or media == "text/*" or media.startswith("text/html"):
            return Rendering(FHIR_JSON, pretty)  # browsers and curl
    raise FhirError(
        406,
        "not-supported",
        "This server only serves JSON: accept application/fhir+json or application/json.",
    )


def dumps(value: object) -> bytes:
    return orjson.dumps(value)


def _fragment(text: str) -> orjson.Fragment:
    return orjson.Fragment(text)


def loads_exact(body: bytes) -> object:
    """Parse JSON keeping every number's text (orjson.Fragment), for reshaping."""
    return json.loads(body, parse_float=_fragment, parse_int=_fragment)


def pretty(body: bytes) -> bytes:
    """`body` indented by two spaces, numbers untouched."""
    return orjson.dumps(loads_exact(body), option=orjson.OPT_INDENT_2)
