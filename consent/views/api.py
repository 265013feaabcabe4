"""App-level consent API (client-credentials token with scope `consents`)."""

from __future__ import annotations

from rest_framework import permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from consent import lifecycle
from consent import scopes as scope_rules
from consent.bearer import BearerTokenAuthentication
from consent.models import Consent
from consent.oauth.server import iso


class IsAppLevelToken(permissions.BasePermission):
    message = "A client-credentials token with scope 'consents' is required."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        return bool(
            token is not None
            and token.consent_id is None
            and scope_rules.APP_LEVEL_SCOPE in scope_rules.split(token.scope)
        )


def _stamp(value):
    return iso(value) if value else None


def consent_json(consent: Consent) -> dict:
    return {
        "id": str(consent.pk),
        "status": consent.status,
        "data_state": consent.data_state,
        "payer": {"slug": consent.payer.slug, "name": consent.payer.name},
        "patient": consent.patient_id or None,
        "external_id": consent.external_id or None,
        "scope": consent.scope,
        "created_at": _stamp(consent.created_at),
        "granted_at": _stamp(consent.granted_at),
        "expires_at": _stamp(consent.expires_at),
        "ended_at": _stamp(consent.ended_at),
    }


class AppAPIView(APIView):
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [IsAppLevelToken]

    def own_consent(self, request, consent_id) -> Consent | None:
        """The token's app's consent `consent_id` (another app's is not found)."""
        return (
            Consent.objects.filter(app=request.auth.app, pk=consent_id)
            .select_related("payer")
            .first()
        )


class ConsentList(AppAPIView):
    def get(self, request):
        consents = Consent.objects.filter(app=request.auth.app).select_related("payer")
        status = request.query_params.get("status")
        if status:
            if status not in Consent.Status.values:
                body = {"error": "invalid_request", "error_description": "Unknown 'status'."}
                return Response(body, status=400)
            consents = consents.filter(status=status)
        return Response({"consents": [consent_json(c) for c in consents.order_by("-created_at")]})


def last_sync_json(consent: Consent) -> dict | None:
    """The consent's newest sync job (through its reverse relation: consent never
    imports etl), with per-type counts of what the cache holds."""
    job = consent.sync_jobs.order_by("-created_at").first()
    if job is None:
        return None
    return {
        "id": job.pk,
        "kind": job.kind,
        "state": job.state,
        "started_at": _stamp(job.started_at),
        "finished_at": _stamp(job.finished_at),
        "next_attempt_at": _stamp(job.next_attempt_at),
        "error": job.last_error or None,
        "counts": {t: c.get("stored", 0) for t, c in sorted((job.counts or {}).items())},
    }


class ConsentDetail(AppAPIView):
    def get(self, request, consent_id):
        consent = self.own_consent(request, consent_id)
        if consent is None:
            return Response({"error": "not_found"}, status=404)
        return Response({**consent_json(consent), "last_sync": last_sync_json(consent)})


class ConsentRevoke(AppAPIView):
    def post(self, request, consent_id):
        consent = self.own_consent(request, consent_id)
        if consent is None:
            return Response({"error": "not_found"}, status=404)
        if consent.status in Consent.REVOCABLE:
            lifecycle.end_consent(consent, reason="revoked_by_app_api")
        elif consent.status == Consent.Status.PENDING:
            return Response({"error": "consent_pending"}, status=409)
        consent.refresh_from_db()
        return Response(consent_json(consent))
