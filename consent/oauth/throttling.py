"""Failed client authentication at /oauth/token, /introspect and /revoke is rate-limited.

Per client id and per source address (`config.throttle`, Redis): a client id
that failed `PER_CLIENT.limit` times in `PER_CLIENT.window` seconds, or an
address that failed `PER_ADDRESS.limit` times, gets `429` with `Retry-After`
and an OAuth error body until its window ends (five minutes at most), so a
secret cannot be guessed online and the rightful app waits minutes, not hours.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse

from config.throttle import FailureThrottle, source_address
from consent.oauth.client_auth import presented_client_id

PER_CLIENT = FailureThrottle("oauth-client", limit=10, window=300)
PER_ADDRESS = FailureThrottle("oauth-address", limit=100, window=300)


def refused(request: HttpRequest) -> HttpResponse | None:
    """A 429 when this client id or address has failed too often lately, else None."""
    wait = max(
        PER_CLIENT.retry_after(presented_client_id(request)),
        PER_ADDRESS.retry_after(source_address(request)),
    )
    if not wait:
        return None
    # RFC 6749 has no rate-limit error; `temporarily_unavailable` (§4.1.2.1) says
    # "try later" without telling a client its credentials are wrong.
    body = {
        "error": "temporarily_unavailable",
        "error_description": "Too many failed client authentications; try again later.",
    }
    response = JsonResponse(body, status=429)
    response["Retry-After"] = str(wait)
    return response


def count(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Count a failed client authentication (RFC 6749 §5.2 `invalid_client`, 401)."""
    if response.status_code == 401:
        PER_CLIENT.failed(presented_client_id(request))
        PER_ADDRESS.failed(source_address(request))
    return response
