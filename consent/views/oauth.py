"""OAuth endpoints for apps: authorize (entry), token, introspect, revoke, jwks, discovery."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import flow as flows
from consent import smart_metadata
from consent.oauth import keys
from consent.oauth.server import server


@csrf_exempt  # SMART allows POST; this only creates a flow bound to the caller's own session
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """RFC 6749 §4.1.1 authorization request, validated by authlib.

    Errors found before the redirect URI is trusted are shown to the patient;
    after it, they go back to the app (RFC 6749 §4.1.2.1).
    """
    try:
        grant = server.get_consent_grant(request)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(server.create_oauth2_request(request), error)
        return render(
            request,
            "consent/error.html",
            {
                "title": "This link cannot be used",
                "message": error.get_error_description() or error.error,
                "error_code": error.error,
            },
            status=400,
        )
    flow = flows.start(request, grant)
    return redirect("consent:start", flow_id=flow.pk)


def _oauth_response(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


@csrf_exempt  # client-authenticated API, not a browser form
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    return _oauth_response(server.create_token_response(request))


@csrf_exempt
@require_POST
def introspect(request: HttpRequest) -> HttpResponse:
    return _oauth_response(server.create_endpoint_response("introspection", request))


@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    return _oauth_response(server.create_endpoint_response("revocation", request))


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    return JsonResponse(keys.jwks())


@require_GET
def smart_configuration(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.smart_configuration())


@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.authorization_server_metadata())


@require_GET
def fhir_metadata(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.capability_statement(), content_type="application/fhir+json")
