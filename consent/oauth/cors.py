"""CORS for the endpoints a browser SMART app calls with `fetch` (public clients).

The Fetch standard's CORS protocol, without credentials: any origin may call
the token and revocation endpoints, the discovery documents and the JWKS,
because they authenticate by what is in the request (a PKCE verifier, a
token, client credentials), never by cookies. `Access-Control-Allow-Credentials`
is never sent, so a browser attaches no cookie and reads no cookie-bearing
answer. Introspection stays server-to-server (it is for confidential apps).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.http import HttpRequest, HttpResponse

ALLOW_HEADERS = "Authorization, Content-Type"
MAX_AGE_S = 86400


def allow_any_origin(methods: str) -> Callable:
    """Answer preflights (OPTIONS) and mark responses readable by any origin."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "OPTIONS":
                response = HttpResponse(status=204)
                response["Access-Control-Allow-Methods"] = f"{methods}, OPTIONS"
                response["Access-Control-Allow-Headers"] = ALLOW_HEADERS
                response["Access-Control-Max-Age"] = str(MAX_AGE_S)
            else:
                response = view(request, *args, **kwargs)
            response["Access-Control-Allow-Origin"] = "*"
            return response

        return wrapper

    return decorate
