"""Patient-facing pages of the consent flow: thin views over `consent.flow`.

Every page is `never_cache`: they are one browser's, and the page after Allow
carries our authorization code in its "Continue" link.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749.errors import OAuth2Error
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from consent import flow as flows
from consent import lifecycle
from consent import scopes as scope_rules
from consent.models import App, AuthorizationFlow
from consent.receipts import receipt_url
from payers.directory import search_payers
from payers.models import Payer


def failure_page(request: HttpRequest, error: flows.FlowError, status: int = 400) -> HttpResponse:
    """Every failure lands here, with a way back to the app when we know where it is."""
    flow = error.flow
    context = {"title": "We could not connect your health plan", "message": error.message}
    if flow is not None:
        context["app"] = flow.app
        context["back_url"] = flows.back_to_app_url(flow)
    return render(request, "consent/error.html", context, status=status)


def _flow_context(flow: AuthorizationFlow) -> dict:
    scope = flow.request_params.get("scope", "")
    days = None
    if flow.app.consent_policy == App.ConsentPolicy.CONTINUOUS:
        payer_days = getattr(flow.payer, "max_authorization_days", None) if flow.payer else None
        days = payer_days or lifecycle.DEFAULT_CONTINUOUS_DAYS
    return {
        "flow": flow,
        "app": flow.app,
        "payer": flow.payer,
        "shared": scope_rules.describe(scope),
        "continuous_days": days,
        "cancel_url": reverse("consent:cancel", args=[flow.pk]),
        "text_version": lifecycle.CONSENT_TEXT_VERSION,
    }


@never_cache
@require_GET
def start(request: HttpRequest, flow_id) -> HttpResponse:
    """Who is asking, and why."""
    try:
        flow = flows.load(request, flow_id, step=AuthorizationFlow.Step.STARTED)
    except flows.FlowError as error:
        return failure_page(request, error)
    context = _flow_context(flow)
    context["next_url"] = reverse("consent:choose_payer", args=[flow.pk])
    return render(request, "consent/start.html", context)


@never_cache
@require_http_methods(["GET", "POST"])
def choose_payer(request: HttpRequest, flow_id) -> HttpResponse:
    """The payer picker (payers' partial); a POST of `payer=<slug>` goes to the payer."""
    try:
        flow = flows.load(request, flow_id, step=AuthorizationFlow.Step.STARTED)
        if request.method == "POST":
            slug = request.POST.get("payer", "")
            # A slug is printable; NUL would make PostgreSQL refuse the query (a 500).
            payer = Payer.objects.filter(slug=slug).first() if slug.isprintable() else None
            return redirect(flows.choose_payer(flow, payer))
    except flows.FlowError as error:
        return failure_page(request, error, status=403)
    query = request.GET.get("q", "").strip()
    action = reverse("consent:choose_payer", args=[flow.pk])
    context = _flow_context(flow)
    context.update(
        query=query,
        results=search_payers(query, sandbox=flow.app.mode == App.Mode.TEST) if query else [],
        select_action=action,
        search_action=action,
    )
    return render(request, "consent/choose_payer.html", context)


@never_cache
@require_GET
def payer_callback(request: HttpRequest) -> HttpResponse:
    """/payers/callback: where every payer sends the patient back."""
    try:
        flow = flows.complete_at_payer(request, request.GET)
    except flows.FlowError as error:
        return failure_page(request, error)
    return redirect("consent:review", flow_id=flow.pk)


@never_cache
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest, flow_id) -> HttpResponse:
    """What will be shared, with whom, for how long; Allow or Deny."""
    try:
        flow = flows.load(request, flow_id, step=AuthorizationFlow.Step.REVIEW)
        if request.method == "GET":
            return render(request, "consent/review.html", _flow_context(flow))
        decision = request.POST.get("decision")
        if decision not in ("allow", "deny"):
            raise flows.FlowError("Please choose Allow or Deny.", flow)
        outcome = flows.decide(flow, allow=decision == "allow")
    except flows.FlowError as error:
        return failure_page(request, error)
    except OAuth2Error as error:  # the app changed meanwhile (removed, redirect URI gone)
        flows.fail(flow, f"app:{error.error}")
        return failure_page(request, flows.FlowError("The app can no longer receive access."))
    if decision == "deny":
        return _back_to_app(request, outcome.redirect_to)
    return render(
        request,
        "consent/granted.html",
        {
            "app": flow.app,
            "consent": outcome.consent,
            "continue_url": outcome.redirect_to,
            "receipt_url": receipt_url(outcome.consent),
            "shared": scope_rules.describe(outcome.consent.scope),
        },
    )


@never_cache
@require_POST
def cancel(request: HttpRequest, flow_id) -> HttpResponse:
    """ "Cancel and go back": the app hears `access_denied`."""
    try:
        flow = flows.load(request, flow_id)
    except flows.FlowError as error:
        return failure_page(request, error)
    flows.fail(flow, "patient_cancelled", denied=True)
    return _back_to_app(request, flows.back_to_app_url(flow))


def _back_to_app(request: HttpRequest, url: str | None) -> HttpResponse:
    if url:
        return redirect(url)
    message = "Nothing was shared. The app that asked can no longer be reached from here."
    return failure_page(request, flows.FlowError(message))
