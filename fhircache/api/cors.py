"""CORS for browser SMART apps (Fetch standard): any origin, bearer tokens, no cookies.

The API authenticates by `Authorization` header only, so letting every origin
read responses exposes nothing a cookie would: credentials mode is never
allowed (no `Access-Control-Allow-Credentials`).
"""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseBase

ALLOW_HEADERS = "Authorization, Content-Type, Accept, Prefer, If-None-Match, X-Request-Id"
EXPOSE_HEADERS = (
    "ETag, Last-Modified, Location, Content-Location, Retry-After, WWW-Authenticate,"
    " X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
)


def add_headers(response: HttpResponseBase) -> None:
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = EXPOSE_HEADERS


def preflight(allowed_methods: list[str]) -> HttpResponse:
    response = HttpResponse(status=204)
    response["Access-Control-Allow-Methods"] = ", ".join(m.upper() for m in allowed_methods)
    response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
    response["Access-Control-Max-Age"] = "86400"
    return response
