"""Checks on how a client authenticates at /oauth/token, /introspect and /revoke.

RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in
each request." authlib tries its methods in turn and takes the first that
works, so Basic credentials of one client with `client_secret` of another in
the body would authenticate whichever it tried first. Such a request is
refused before authlib sees it.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from django.http import HttpRequest


def basic_client_id(request: HttpRequest) -> str | None:
    """The client id of an HTTP Basic `Authorization` header (RFC 6749 §2.3.1), if any."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""  # malformed Basic credentials still count as a method used
    return unquote(decoded.partition(":")[0])


def presented_client_id(request: HttpRequest) -> str:
    """Who the request says it is: the Basic user name, else the body's `client_id`."""
    basic = basic_client_id(request)
    return basic if basic is not None else request.POST.get("client_id", "")


def second_method(request: HttpRequest) -> str | None:
    """Why the request uses more than one client authentication method, or None.

    The body may repeat the Basic client's own `client_id` (identification, which
    some client libraries send); a body secret or another client's id is a
    second method.
    """
    basic = basic_client_id(request)
    if basic is None:
        return None
    body_id = request.POST.get("client_id")
    if "client_secret" in request.POST or (body_id is not None and body_id != basic):
        return "Use one client authentication method: HTTP Basic or the request body, not both."
    if "client_assertion" in request.POST:
        return "Use one client authentication method: HTTP Basic or a client assertion."
    return None
