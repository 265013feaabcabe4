"""SMART discovery: find a payer's OAuth endpoints and record its health.

SMART App Launch 2 §2.1: `{base}/.well-known/smart-configuration`; when that
fails, the CapabilityStatement's `oauth-uris` extension (`{base}/metadata`),
which older servers and the Python `fhirclient` rely on. The result and a
readable reason for any failure are stored on the payer; nothing here raises.
Failing payers are retried with exponential backoff (`discovery_due`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import F
from django.utils import timezone

from payers.http import PayerHTTPError, payer_session
from payers.models import Payer
from payers.signals import health_of, send_if_changed

logger = logging.getLogger("payers.discovery")

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
HEALTHY_INTERVAL = timedelta(hours=24)
RETRY_BASE = timedelta(minutes=15)
# Where a payer's SMART endpoints live is the payer's to say: always taken.
_ENDPOINT_FIELDS = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
}
# Optional endpoints: filled only while an admin has left them blank.
_OPTIONAL_ENDPOINT_FIELDS = {
    "revocation_endpoint": "revoke_url",
    "introspection_endpoint": "introspect_url",
}
# What a standalone patient launch asks for (SMART App Launch 2), in this order.
CONTEXT_SCOPES = ("launch/patient", "openid", "fhirUser", "offline_access")
DEFAULT_SCOPES = "launch/patient openid fhirUser offline_access patient/*.read"


class DiscoveryError(Exception):
    pass


def _url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("https://", "http://")) else None


def _smart_configuration(session, base: str) -> dict[str, Any]:
    document = session.get_json(f"{base}/.well-known/smart-configuration")
    if not isinstance(document, dict):
        raise DiscoveryError("smart-configuration is not a JSON object")
    if not (_url(document.get("authorization_endpoint")) and _url(document.get("token_endpoint"))):
        raise DiscoveryError("smart-configuration lacks authorization_endpoint or token_endpoint")
    return document


def _capability_statement(session, base: str) -> dict[str, Any]:
    statement = session.get_json(f"{base}/metadata")
    if not isinstance(statement, dict) or statement.get("resourceType") != "CapabilityStatement":
        raise DiscoveryError("metadata is not a CapabilityStatement")
    for rest in statement.get("rest") or []:
        for ext in ((rest or {}).get("security") or {}).get("extension") or []:
            if ext.get("url") != OAUTH_URIS:
                continue
            uris = {e.get("url"): _url(e.get("valueUri")) for e in ext.get("extension") or []}
            if uris.get("authorize") and uris.get("token"):
                document = {
                    "authorization_endpoint": uris["authorize"],
                    "token_endpoint": uris["token"],
                    "source": "CapabilityStatement oauth-uris",
                }
                if uris.get("revoke"):
                    document["revocation_endpoint"] = uris["revoke"]
                return document
    raise DiscoveryError("CapabilityStatement has no SMART oauth-uris extension")


def fetch_discovery(payer: Payer) -> dict[str, Any]:
    """The discovery document, or DiscoveryError with both attempts' reasons."""
    base = payer.fhir_base_url.rstrip("/")
    if not base:
        raise DiscoveryError("no FHIR base URL")
    # Short timeouts, no inline retries: a failing payer is retried later with backoff.
    session = payer_session(payer, timeout=(3, 10), max_retries=0)
    try:
        return _smart_configuration(session, base)
    except (PayerHTTPError, DiscoveryError) as first:
        first_reason = getattr(first, "reason", None) or str(first)
        try:
            return _capability_statement(session, base)
        except (PayerHTTPError, DiscoveryError) as second:
            second_reason = getattr(second, "reason", None) or str(second)
            raise DiscoveryError(
                f"smart-configuration: {first_reason}; CapabilityStatement: {second_reason}"
            ) from None


def discover(payer: Payer) -> bool:
    """Run discovery for one payer, store the outcome; True when it worked. Never raises."""
    try:
        document = fetch_discovery(payer)
    except DiscoveryError as exc:
        return _record_failure(payer, str(exc))
    except Exception as exc:  # a bug or a truly odd answer must not stop a run over all payers
        logger.exception("discovery of %s crashed", payer.slug)
        return _record_failure(payer, f"unexpected error: {type(exc).__name__}")
    was = health_of(payer.last_discovery_ok)
    _apply(payer, document)
    payer.last_discovery_at = timezone.now()
    payer.last_discovery_ok = True
    payer.last_discovery_error = ""
    payer.discovery_failures = 0
    payer.save()
    send_if_changed(payer, was, "healthy")
    return True


def requested_scopes(supported: Any) -> str:
    """The scopes to request of a payer whose `scopes_supported` is `supported`.

    Launch context, identity and offline access when offered; then one patient
    wildcard (v1 `patient/*.read` preferred, since v1 servers outnumber v2 ones,
    else `patient/*.rs`), else every patient-level read scope listed. With no
    usable list, the SMART defaults: never an authorize request without scope.
    """
    if not isinstance(supported, list) or not all(isinstance(s, str) for s in supported):
        return DEFAULT_SCOPES
    offered = set(supported)
    scopes = [s for s in CONTEXT_SCOPES if s in offered]
    wildcard = next((w for w in ("patient/*.read", "patient/*.rs") if w in offered), None)
    if wildcard:
        scopes.append(wildcard)
    else:
        scopes += [
            s for s in supported if s.startswith("patient/") and s.endswith((".read", ".rs"))
        ]
    return " ".join(scopes) if any(s.startswith("patient/") for s in scopes) else DEFAULT_SCOPES


def offers_refresh(document: dict[str, Any]) -> bool:
    """SMART `permission-offline` or RFC 8414 `grant_types_supported` naming refresh_token."""
    capabilities = document.get("capabilities")
    grant_types = document.get("grant_types_supported")
    return (isinstance(capabilities, list) and "permission-offline" in capabilities) or (
        isinstance(grant_types, list) and "refresh_token" in grant_types
    )


def _apply(payer: Payer, document: dict[str, Any]) -> None:
    """Fill the payer from its discovery document; an admin's explicit value wins.

    Endpoints of the authorization itself are always taken. Optional endpoints
    and scopes are filled only while blank. `supports_refresh` (a yes/no an
    admin cannot leave blank) is taken on the first successful discovery only;
    after that it is the admin's.
    """
    first_time = not payer.discovery_document
    payer.discovery_document = document
    for key, field in _ENDPOINT_FIELDS.items():
        if _url(document.get(key)):
            setattr(payer, field, document[key])
    for key, field in _OPTIONAL_ENDPOINT_FIELDS.items():
        if not getattr(payer, field) and _url(document.get(key)):
            setattr(payer, field, document[key])
    if first_time:
        payer.supports_refresh = offers_refresh(document)
    if not payer.scopes.strip():
        scopes = requested_scopes(document.get("scopes_supported"))
        if not payer.supports_refresh:
            scopes = " ".join(s for s in scopes.split() if s != "offline_access")
        payer.scopes = scopes


def _record_failure(payer: Payer, reason: str) -> bool:
    logger.info("discovery of %s failed: %s", payer.slug, reason)
    was = health_of(payer.last_discovery_ok)
    Payer.objects.filter(pk=payer.pk).update(
        last_discovery_at=timezone.now(),
        last_discovery_ok=False,
        last_discovery_error=reason[:2000],
        discovery_failures=F("discovery_failures") + 1,
    )
    payer.refresh_from_db()
    send_if_changed(payer, was, "failing")
    return False


def retry_delay(failures: int) -> timedelta:
    """15 min, 30 min, 1 h, ... capped at a day."""
    if failures <= 0:
        return HEALTHY_INTERVAL
    return min(HEALTHY_INTERVAL, RETRY_BASE * 2 ** (failures - 1))


def discovery_due(now=None) -> list[int]:
    """Ids of non-disabled payers whose next discovery time has come."""
    now = now or timezone.now()
    candidates = Payer.objects.exclude(status=Payer.Status.DISABLED).exclude(fhir_base_url="")
    if not settings.DISCOVER_REAL_PAYERS:
        # A development stack has no business probing a hundred real payers on the
        # internet every time it starts; `discover_payers --payer SLUG` still can.
        candidates = candidates.filter(is_sandbox=True)
    due = []
    for pk, last, failures in candidates.values_list(
        "id", "last_discovery_at", "discovery_failures"
    ):
        if last is None or last + retry_delay(failures) <= now:
            due.append(pk)
    return due


def discover_many(payers: Iterable[Payer], threads: int = 16) -> list[tuple[Payer, bool]]:
    """Discover several payers concurrently (network-bound); results in input order."""

    def run(payer: Payer) -> bool:
        try:
            return discover(payer)
        finally:
            connections.close_all()  # each thread has its own database connection

    payers = list(payers)
    if len(payers) <= 1 or threads <= 1:
        return [(payer, discover(payer)) for payer in payers]
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(payers)))) as pool:
        return list(zip(payers, pool.map(run, payers), strict=True))
