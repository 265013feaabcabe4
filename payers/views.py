"""Patient-facing payer directory page (the picker without a consent flow)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from payers.directory import search_payers

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
