"""OAuth endpoints for apps: authorize (entry), token, introspect, revoke, jwks, discovery."""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import flow as flows
from consent import smart_metadata
from consent.oauth import client_auth, keys, params, throttling
from consent.oauth.cors import allow_any_origin
from consent.oauth.server import server


@csrf_exempt  # SMART allows POST; this only creates a flow bound to the caller's own session
@require_http_methods(["GET", "POST"])
def authorize(request: HttpRequest) -> HttpResponse:
    """RFC 6749 §4.1.1 authorization request, validated by authlib.

    Errors found before the redirect URI is trusted are shown to the patient;
    after it, they go back to the app (RFC 6749 §4.1.2.1). A malformed request
    is shown to the patient: none of its values can be trusted, the redirect
    URI included.
    """
    malformed = params.problem(request)
    if malformed:
        return _error_page(request, malformed, "invalid_request")
    try:
        grant = server.get_consent_grant(request)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(server.create_oauth2_request(request), error)
        return _error_page(request, error.get_error_description() or error.error, error.error)
    flow = flows.start(request, grant)
    return redirect("consent:start", flow_id=flow.pk)


def _error_page(request: HttpRequest, message: str, error_code: str) -> HttpResponse:
    context = {"title": "This link cannot be used", "message": message, "error_code": error_code}
    return render(request, "consent/error.html", context, status=400)


def _oauth_response(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _client_api(request: HttpRequest, respond) -> HttpResponse:
    """A token, introspection or revocation request: malformed ones end here."""
    malformed = params.problem(request) or client_auth.second_method(request)
    if malformed:
        body = {"error": "invalid_request", "error_description": malformed}
        return _oauth_response(JsonResponse(body, status=400))
    throttled = throttling.refused(request)
    if throttled is not None:
        return _oauth_response(throttled)
    return _oauth_response(throttling.count(request, respond(request)))


@allow_any_origin("POST")  # browser apps (public clients), never with cookies
@csrf_exempt  # client-authenticated API, not a browser form
@require_POST
def token(request: HttpRequest) -> HttpResponse:
    return _client_api(request, server.create_token_response)


@csrf_exempt
@require_POST
def introspect(request: HttpRequest) -> HttpResponse:
    return _client_api(request, lambda r: server.create_endpoint_response("introspection", r))


@allow_any_origin("POST")
@csrf_exempt
@require_POST
def revoke(request: HttpRequest) -> HttpResponse:
    return _client_api(request, lambda r: server.create_endpoint_response("revocation", r))


@allow_any_origin("GET")
@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    return JsonResponse(keys.jwks())


@allow_any_origin("GET")
@require_GET
def smart_configuration(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.smart_configuration())


@allow_any_origin("GET")
@require_GET
def authorization_server_metadata(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.authorization_server_metadata())


@allow_any_origin("GET")
@require_GET
def openid_configuration(request: HttpRequest) -> JsonResponse:
    return JsonResponse(smart_metadata.openid_configuration())
