"""Error responses in the dialect of the URL they answer.

The FHIR API speaks OperationOutcome, the OAuth and app APIs speak JSON error
bodies, and people get a page. Nothing here ever carries a traceback.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

_TEXT = {
    400: ("Bad request", "The request could not be understood."),
    403: ("Forbidden", "You are not allowed to do that."),
    404: ("Not found", "There is nothing at this address."),
    500: ("Server error", "Something went wrong on our side. Please try again later."),
}
_FHIR_CODE = {400: "invalid", 403: "forbidden", 404: "not-found", 500: "exception"}
_OAUTH_CODE = {400: "invalid_request", 403: "access_denied", 404: "not_found", 500: "server_error"}


def error_response(request: HttpRequest, status: int) -> HttpResponse:
    title, message = _TEXT[status]
    # Segment checks, not prefixes: the sandbox payers serve /sandbox/<slug>/fhir/...
    path = request.path.rstrip("/") + "/"
    if "/fhir/" in path:
        outcome = {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": _FHIR_CODE[status], "diagnostics": message}],
        }
        return JsonResponse(outcome, status=status, content_type="application/fhir+json")
    if any(segment in path for segment in ("/oauth/", "/api/", "/.well-known/")):
        body = {"error": _OAUTH_CODE[status], "error_description": message}
        return JsonResponse(body, status=status)
    html = render_to_string("error.html", {"title": title, "message": message}, request=None)
    return HttpResponse(html, status=status)


def bad_request(request, exception=None):
    return error_response(request, 400)


def permission_denied(request, exception=None):
    return error_response(request, 403)


def page_not_found(request, exception=None):
    return error_response(request, 404)


def server_error(request):
    return error_response(request, 500)
