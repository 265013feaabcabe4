"""The patient's journey behind /oauth/authorize, as services the views call.

app request (validated by authlib) → flow bound to the browser session →
payer chosen (consent `pending`) → payer's SMART authorize with our state and
PKCE → /payers/callback (state checked, code exchanged, payer tokens stored
encrypted, patient found) → review → Allow (code to the app) or Deny.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from authlib.common.urls import add_params_to_uri
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from consent import lifecycle
from consent.models import App, AuthorizationFlow, Consent, PayerGrant
from consent.oauth.params import describable
from consent.patient_ids import served_id
from consent.secrets import digest, matches
from payers import oauth_client

log = logging.getLogger(__name__)

SESSION_KEY = "pb_flows"
MAX_FLOWS_PER_SESSION = 5
REQUEST_KEYS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "aud",
    "code_challenge",
    "code_challenge_method",
    "launch",
    "nonce",
    "external_id",
)


class FlowError(Exception):
    """A step that cannot go on; `message` is for the patient, `flow` may offer a way back."""

    def __init__(self, message: str, flow: AuthorizationFlow | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.flow = flow


@dataclass(frozen=True)
class Decision:
    redirect_to: str | None  # None: a denial, and the app can no longer be sent back to
    consent: Consent


def callback_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}/payers/callback"


def back_to_app_url(flow: AuthorizationFlow, error: str = "access_denied") -> str | None:
    """RFC 6749 §4.1.2.1 error redirect to the app's redirect URI, while it is still registered.

    It was checked when the flow started; if an admin has since removed it (or
    the app), it is no place to send the patient: None.
    """
    params = flow.request_params
    # Omitted at authorize: the app's one registered URI (RFC 6749 §3.1.2.3).
    uri = params.get("redirect_uri") or flow.app.get_default_redirect_uri()
    if not (uri and flow.app.is_active and flow.app.check_redirect_uri(uri)):
        return None
    query = [("error", error)]
    if params.get("state"):
        query.append(("state", params["state"]))
    return add_params_to_uri(uri, query)


# --- session binding --------------------------------------------------------
def start(request: HttpRequest, grant) -> AuthorizationFlow:
    """Keep the app's validated request and bind it to this browser session."""
    data = grant.request.payload.data
    # As the app sent it: a `redirect_uri` it omitted stays omitted, so the code is
    # redeemable without one (RFC 6749 §4.1.3); the registered default is used.
    params = {k: data[k] for k in REQUEST_KEYS if data.get(k)}
    params["scope"] = grant.request.scope  # as granted: each scope once (App.get_allowed_scope)
    binding = secrets.token_urlsafe(32)
    flow = AuthorizationFlow.objects.create(
        app=grant.request.client, request_params=params, session_binding=digest(binding)
    )
    bindings = request.session.get(SESSION_KEY, {})
    bindings[str(flow.pk)] = binding
    # Keep the newest few: a browser has no business running more flows at once.
    request.session[SESSION_KEY] = dict(list(bindings.items())[-MAX_FLOWS_PER_SESSION:])
    return flow


def load(request: HttpRequest, flow_id, *, step: str | None = None) -> AuthorizationFlow:
    """The flow, if this browser started it and it has not expired."""
    flow = AuthorizationFlow.objects.select_related("app", "payer", "consent").filter(pk=flow_id)
    flow = flow.first()
    binding = request.session.get(SESSION_KEY, {}).get(str(flow_id), "")
    if flow is None or not matches(binding, flow.session_binding):
        raise FlowError("This sign-in link is not valid in this browser. Start again from the app.")
    if flow.is_expired:
        fail(flow, "expired")
        raise FlowError("This request took too long and has expired.", flow)
    if flow.step in (AuthorizationFlow.Step.DONE, AuthorizationFlow.Step.FAILED):
        raise FlowError("This request is already finished.", flow)
    if step is not None and flow.step != step:
        raise FlowError("This step does not fit where the request is now.", flow)
    return flow


def fail(flow: AuthorizationFlow, reason: str, *, denied: bool = False) -> None:
    with transaction.atomic():
        AuthorizationFlow.objects.filter(pk=flow.pk).update(
            step=AuthorizationFlow.Step.FAILED, failure=reason[:255]
        )
        if flow.consent_id:
            status = Consent.Status.DENIED if denied else Consent.Status.FAILED
            lifecycle.close_flow(flow.consent, status, reason)
    flow.step = AuthorizationFlow.Step.FAILED


# --- steps ------------------------------------------------------------------
def choose_payer(flow: AuthorizationFlow, payer) -> str:
    """Consent `pending`, then the URL of the payer's authorize endpoint."""
    # What the picker offers, not merely `active`: a crafted POST must not reach a
    # plan that is unverified, offline or not yet live.
    if payer is None or not payer.is_selectable:
        raise FlowError("That health plan cannot be chosen.", flow)
    if not flow.app.reaches_payer(payer):
        kind = "test" if flow.app.mode == App.Mode.TEST else "live"
        raise FlowError(f"This {kind}-mode app cannot connect to {payer.name}.", flow)
    start_at_payer = oauth_client.start_authorization(payer, callback_url())
    with transaction.atomic():
        consent = Consent.objects.create(
            app=flow.app,
            payer=payer,
            scope=flow.request_params.get("scope", ""),
            external_id=flow.request_params.get("external_id", ""),
        )
        consent.record("flow_started", payer=payer.slug)
        flow.payer = payer
        flow.consent = consent
        flow.payer_state_hash = digest(start_at_payer.state)
        flow.payer_code_verifier = start_at_payer.code_verifier
        flow.step = AuthorizationFlow.Step.AT_PAYER
        flow.save()
    return start_at_payer.url


def complete_at_payer(request: HttpRequest, params) -> AuthorizationFlow:
    """/payers/callback: the payer sent the patient back (RFC 6749 §4.1.2 / §4.1.2.1)."""
    state = params.get("state") or ""
    flow = None
    if state:
        flow = AuthorizationFlow.objects.filter(payer_state_hash=digest(state)).first()
    if flow is None:
        raise FlowError("The health plan sent back a request we do not recognise.")
    flow = load(request, flow.pk)
    # Claim the step with a conditional UPDATE: a replayed callback finds nothing to claim.
    claimed = AuthorizationFlow.objects.filter(
        pk=flow.pk, step=AuthorizationFlow.Step.AT_PAYER, payer_state_hash=digest(state)
    ).update(payer_state_hash="")
    if not claimed:
        raise FlowError("This response from the health plan was already used.", flow)
    if params.get("error"):
        error = params["error"]
        denied = error == "access_denied"
        # It arrives through the browser: kept only if it looks like an OAuth error code.
        reason = f"payer:{error}"[:64] if describable(error) else "payer:malformed_error"
        fail(flow, reason, denied=denied)
        message = (
            "You cancelled at your health plan."
            if denied
            else "Your health plan reported a problem and did not share access."
        )
        raise FlowError(message, flow)
    if not params.get("code"):
        fail(flow, "payer:no_code")
        raise FlowError("Your health plan did not complete the sign-in.", flow)
    try:
        token = oauth_client.exchange_code(
            flow.payer, params["code"], flow.payer_code_verifier, callback_url()
        )
        patient_id = oauth_client.find_patient_id(flow.payer, token)
    except oauth_client.PayerOAuthError as exc:
        fail(flow, exc.reason[:64])
        message = f"We could not finish connecting to your health plan: {exc.reason}."
        raise FlowError(message, flow) from None
    _store_payer_grant(flow, token, patient_id)
    return flow


@transaction.atomic
def _store_payer_grant(flow: AuthorizationFlow, token: dict, patient_id: str) -> None:
    expires_in = token.get("expires_in")
    PayerGrant.objects.update_or_create(
        consent=flow.consent,
        defaults={
            "access_token": token["access_token"],
            "refresh_token": token.get("refresh_token") or "",
            "id_token": token.get("id_token") or "",
            "token_type": token.get("token_type") or "Bearer",
            "scope": token.get("scope") or "",
            "expires_at": (
                timezone.now() + timedelta(seconds=int(expires_in)) if expires_in else None
            ),
        },
    )
    # One patient id: the token's `patient`, the id_token's `fhirUser` and the
    # cached Patient's id are the id our FHIR API serves, which is the payer's
    # when it is a valid FHIR id and its deterministic mapping otherwise (never
    # a cut); the payer's own id is kept for syncing (and in provenance).
    Consent.objects.filter(pk=flow.consent_id).update(
        patient_id=served_id(patient_id), payer_patient_id=patient_id
    )
    flow.consent.record("payer_authorized")
    flow.step = AuthorizationFlow.Step.REVIEW
    flow.payer_code_verifier = ""
    flow.save(update_fields=["step", "payer_code_verifier"])


def decide(flow: AuthorizationFlow, allow: bool) -> Decision:
    """Allow: the consent becomes active and the app gets our code. Deny: `access_denied`."""
    from consent.oauth.server import server, stored_authorization_request

    claimed = AuthorizationFlow.objects.filter(
        pk=flow.pk, step=AuthorizationFlow.Step.REVIEW
    ).update(step=AuthorizationFlow.Step.DONE)
    if not claimed:
        raise FlowError("This request is already finished.", flow)
    consent = flow.consent
    if not allow:
        lifecycle.close_flow(consent, Consent.Status.DENIED, "patient_denied")
        return Decision(back_to_app_url(flow), consent)
    request = stored_authorization_request(flow.request_params)
    # Validate again: the app or its redirect URI may have changed meanwhile.
    grant = server.get_consent_grant(request)
    consent = lifecycle.grant(consent)
    response = server.create_authorization_response(request, grant_user=consent, grant=grant)
    return Decision(response["Location"], consent)
