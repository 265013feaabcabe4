"""Patient-facing payer directory page (the picker without a consent flow)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from payers.client_auth import PRIVATE_KEY_JWT, published_jwks
from payers.directory import search_payers
from payers.models import Payer

MAX_QUERY = 100


@require_GET
def directory(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:MAX_QUERY]
    context = {
        "query": query,
        "results": search_payers(query) if query else [],
        "search_action": reverse("payer-directory"),
        "select_action": "",  # browsing only; the consent flow passes its own
    }
    return render(request, "payers/directory.html", context)


@require_GET
def client_jwks(request: HttpRequest) -> HttpResponse:
    """Our public keys for private_key_jwt, for payers that take a JWKS URL (SMART "jwks_url")."""
    payers = Payer.objects.filter(token_endpoint_auth_method=PRIVATE_KEY_JWT).exclude(
        status=Payer.Status.DISABLED
    )
    response = JsonResponse(published_jwks(payers))
    response["Cache-Control"] = "public, max-age=300"
    return response
