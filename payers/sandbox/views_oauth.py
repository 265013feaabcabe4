"""HTTP face of the sandbox authorization server (logic lives in `oauth.py`).

The authorize flow is three plain HTML steps: sign-in page, consent page,
redirect. Between them the validated request travels in a signed, time-limited
hidden field bound to the browser and good once (`transactions.py`), so the
sandbox keeps no login session at all.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from typing import Any
from urllib.parse import unquote, urlencode

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from config.env import get_int
from config.throttle import FailureThrottle, source_address
from payers.sandbox import client_assertions, keys, oauth
from payers.sandbox import transactions as txns
from payers.sandbox.capability import smart_configuration
from payers.sandbox.registry import payer_or_none, sign_in
from payers.sandbox.seed import sandbox_info

# Failed sign-ins per user name (of one payer) and per address, in 5-minute windows;
# scoped by this sandbox's origin, so two sandboxes on one Redis count apart.
SIGN_IN_WINDOW_S = 300
SIGN_IN_PER_USER = FailureThrottle(
    f"sandbox-signin-user:{settings.SANDBOX_BASE_URL}",
    limit=get_int("SANDBOX_SIGNIN_FAILURES_PER_USER", 10, minimum=1),
    window=SIGN_IN_WINDOW_S,
)
SIGN_IN_PER_ADDRESS = FailureThrottle(
    f"sandbox-signin-address:{settings.SANDBOX_BASE_URL}",
    limit=get_int("SANDBOX_SIGNIN_FAILURES_PER_ADDRESS", 100, minimum=1),
    window=SIGN_IN_WINDOW_S,
)
SCOPE_TEXT = {
    "openid": "Confirm who you are to the app",
    "fhirUser": "Share a link to your own record",
    "launch/patient": "Choose which patient's records to share (yours)",
    "offline_access": "Keep access while you are not using the app",
}


def _describe(scope: str) -> str:
    if scope in SCOPE_TEXT:
        return SCOPE_TEXT[scope]
    if scope.startswith("patient/"):
        what, _, mode = scope[len("patient/") :].partition(".")
        kind = "all your records" if what == "*" else f"your {what} records"
        return f"Read {kind} ({mode})"
    return scope


def _error_page(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "sandbox/error.html", {"message": message}, status=status)


def _redirect(uri: str, params: dict[str, str]) -> HttpResponseRedirect:
    query = urlencode({k: v for k, v in params.items() if v})
    return HttpResponseRedirect(f"{uri}{'&' if '?' in uri else '?'}{query}")


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Human-readable list of the sandbox payers and their test patients."""
    return render(request, "sandbox/index.html", {"payers": sandbox_info()})


@require_GET
def smart_config(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return JsonResponse({"error": "not_found"}, status=404)
    return JsonResponse(smart_configuration(payer))


@require_GET
def jwks(request: HttpRequest, slug: str) -> HttpResponse:
    return JsonResponse(keys.jwks())


@require_GET
def authorize(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return _error_page(request, "This sandbox payer does not exist.", 404)
    params = request.GET.dict()
    try:
        req = oauth.validate_authorize(payer, params)
    except oauth.UntrustedRedirect as exc:
        return _error_page(request, f"{exc.error}: {exc.description}")
    except oauth.OAuthError as exc:
        return _redirect(
            params["redirect_uri"],
            {
                "error": exc.error,
                "error_description": exc.description,
                "state": params.get("state", ""),
            },
        )
    browser = txns.browser_key(request)
    txn = txns.dumps(asdict(req), f"signin:{slug}", browser)
    page = render(request, "sandbox/signin.html", {"payer": payer, "txn": txn})
    return txns.remember_browser(page, browser)


@require_POST
def signin(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    data = txns.loads(request.POST.get("txn", ""), f"signin:{slug}", request)
    if payer is None or data is None:
        return _error_page(request, "This sign-in link has expired. Start again from the app.")
    username = request.POST.get("username", "")
    user_key, address = f"{slug}:{username}", source_address(request)
    wait = max(SIGN_IN_PER_USER.retry_after(user_key), SIGN_IN_PER_ADDRESS.retry_after(address))
    if wait:
        minutes = -(-wait // 60)
        message = f"Too many failed sign-ins. Try again in {minutes} minute(s)."
        page = _error_page(request, message, 429)
        page["Retry-After"] = str(wait)
        return page
    patient_id = sign_in(payer, username, request.POST.get("password", ""))
    if patient_id is None:
        SIGN_IN_PER_USER.failed(user_key)
        SIGN_IN_PER_ADDRESS.failed(address)
        context = {"payer": payer, "txn": request.POST["txn"], "error": True}
        return render(request, "sandbox/signin.html", context, status=401)
    if not txns.claim(data):
        return _error_page(request, "This sign-in link was already used. Start again from the app.")
    data = txns.payload(data)
    txn = txns.dumps(
        {**data, "patient_id": patient_id}, f"consent:{slug}", request.COOKIES[txns.COOKIE]
    )
    scopes = [(s, _describe(s)) for s in data["scope"].split()]
    return render(
        request,
        "sandbox/consent.html",
        {"payer": payer, "txn": txn, "scopes": scopes, "client_id": data["client_id"]},
    )


@require_POST
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    data = txns.loads(request.POST.get("txn", ""), f"consent:{slug}", request)
    if payer is None or data is None or not txns.claim(data):
        return _error_page(request, "This consent page has expired. Start again from the app.")
    data = txns.payload(data)
    patient_id = data.pop("patient_id")
    req = oauth.AuthorizeRequest(**data)
    if request.POST.get("decision") != "allow":
        return _redirect(
            req.redirect_uri,
            {
                "error": "access_denied",
                "error_description": "the patient denied access",
                "state": req.state,
            },
        )
    code = oauth.issue_code(payer, req, patient_id)
    return _redirect(req.redirect_uri, {"code": code, "state": req.state})


def _client_credentials(request: HttpRequest) -> tuple[str, str | None]:
    """client_secret_basic (RFC 6749 §2.3.1, form-encoded parts) or client_secret_post."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise oauth.OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        return unquote(client_id), unquote(secret)
    return request.POST.get("client_id", ""), request.POST.get("client_secret")


def _authenticated_client(request: HttpRequest, payer) -> oauth.SandboxClient:
    """The calling client, by client assertion (RFC 7523 §2.2) or by secret.

    RFC 6749 §2.3: a client uses one authentication method per request.
    """
    form = request.POST
    if "client_assertion" not in form and "client_assertion_type" not in form:
        return oauth.authenticate_client(payer, *_client_credentials(request))
    if request.headers.get("Authorization") or form.get("client_secret"):
        raise oauth.OAuthError("invalid_request", "use one client authentication method only")
    return client_assertions.authenticate_with_assertion(
        payer,
        form.get("client_assertion_type", ""),
        form.get("client_assertion", ""),
        form.get("client_id"),
    )


def _token_json(body: dict, status: int = 200) -> JsonResponse:
    response = JsonResponse(body, status=status)
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    if status == 401:
        response["WWW-Authenticate"] = 'Basic realm="sandbox"'
    return response


def oauth_post(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """POST with a form body only (RFC 6749 §3.2, RFC 7009 §2.1); else OAuth error JSON.

    Client-authenticated endpoints carry no cookies, so CSRF does not apply.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.method != "POST":
            error = {"error": "invalid_request", "error_description": "use POST"}
            response = _token_json(error, 405)
            response["Allow"] = "POST"
            return response
        if request.content_type != "application/x-www-form-urlencoded":
            error = {
                "error": "invalid_request",
                "error_description": "the body must be application/x-www-form-urlencoded",
            }
            return _token_json(error, 400)
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


@oauth_post
def token(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return _token_json({"error": "invalid_request", "error_description": "no such payer"}, 404)
    form = request.POST
    try:
        client = _authenticated_client(request, payer)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise oauth.OAuthError("invalid_request", "grant_type is required")
        if grant_type == "authorization_code":
            body = oauth.exchange_code(
                payer,
                client,
                form.get("code", ""),
                form.get("redirect_uri", ""),
                form.get("code_verifier", ""),
            )
        elif grant_type == "refresh_token":
            body = oauth.refresh(payer, client, form.get("refresh_token", ""))
        else:
            raise oauth.OAuthError("unsupported_grant_type", f"grant_type {grant_type!r}")
    except oauth.OAuthError as exc:
        return _token_json(exc.as_json(), exc.status)
    return _token_json(body)


@oauth_post
def revoke(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return _token_json({"error": "invalid_request", "error_description": "no such payer"}, 404)
    try:
        client = _authenticated_client(request, payer)
    except oauth.OAuthError as exc:
        return _token_json(exc.as_json(), exc.status)
    oauth.revoke(client, request.POST.get("token", ""))
    return HttpResponse(status=200)


@require_GET
def userinfo(request: HttpRequest, slug: str) -> HttpResponse:
    payer = payer_or_none(slug)
    if payer is None:
        return JsonResponse({"error": "not_found"}, status=404)
    try:
        access = oauth.bearer_token(payer, request.headers.get("Authorization", ""))
    except oauth.OAuthError as exc:
        response = JsonResponse(exc.as_json(), status=401)
        response["WWW-Authenticate"] = f'Bearer error="{exc.error}"'
        return response
    fhir_user = f"{oauth.fhir_base(slug)}/Patient/{access.patient_id}"
    return JsonResponse({"sub": access.patient_id, "fhirUser": fhir_user})
