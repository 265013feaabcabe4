"""Add (or update) a payer from nothing but its FHIR base URL.

An operator who has their own registration at a payer gives its FHIR base (and
optionally our client id and secret there); SMART discovery
(`payers.discovery.fetch_discovery`: `.well-known/smart-configuration`, then the
CapabilityStatement's `oauth-uris`) fills every field it can, and the result says
what was found and what an admin still has to set. Used by `manage.py add_payer`
and the admin's "Add from FHIR base URL" form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from payers.directory_readers import PATIENT_ACCESS, normalise_url
from payers.discovery import DiscoveryError, fetch_discovery
from payers.http import PayerHTTPError, payer_session
from payers.models import Payer

SOURCE = "operator:add_payer"
# What a patient-facing standalone launch asks for, when the server lists it.
_LAUNCH_SCOPES = ("launch/patient", "openid", "fhirUser", "offline_access")
_DEFAULT_SCOPES = "launch/patient openid fhirUser offline_access patient/*.read"
_ENDPOINTS = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "revocation_endpoint": "revoke_url",
    "introspection_endpoint": "introspect_url",
}


class NotSmartServer(Exception):
    """The base does not answer as a SMART-protected FHIR server; the message says why."""


@dataclass
class Onboarded:
    payer: Payer
    created: bool
    found: dict[str, Any] = field(default_factory=dict)
    to_do: list[str] = field(default_factory=list)


def discovered_fields(document: dict[str, Any]) -> dict[str, Any]:
    """Payer fields a SMART configuration (or oauth-uris) document determines."""
    found: dict[str, Any] = {}
    for key, name in _ENDPOINTS.items():
        value = document.get(key)
        if isinstance(value, str) and value.startswith(("https://", "http://")):
            found[name] = value
    capabilities = _strings(document.get("capabilities"))
    grants = _strings(document.get("grant_types_supported"))
    supported = _strings(document.get("scopes_supported"))
    if grants or capabilities or supported:
        found["supports_refresh"] = (
            "refresh_token" in grants
            or "permission-offline" in capabilities
            or "offline_access" in supported
        )
    methods = _strings(document.get("code_challenge_methods_supported"))
    if "code_challenge_methods_supported" in document:
        found["supports_pkce"] = "S256" in methods  # SMART 2 forbids `plain`
    if supported:
        found["scopes"] = _launch_scopes(supported)
    auth = _strings(document.get("token_endpoint_auth_methods_supported"))
    for method in ("client_secret_basic", "client_secret_post", "private_key_jwt"):
        if method in auth:
            found["token_endpoint_auth_method"] = method
            break
    return found


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _launch_scopes(supported: list[str]) -> str:
    """A standalone patient launch's scopes among those offered; v2 wildcard over v1."""
    wanted = [s for s in _LAUNCH_SCOPES if s in supported]
    for wildcard in ("patient/*.rs", "patient/*.read"):
        if wildcard in supported:
            wanted.append(wildcard)
            break
    else:
        wanted += [s for s in supported if s.startswith("patient/")]
    return " ".join(wanted)


def _server_name(payer: Payer) -> str:
    """The CapabilityStatement's own name for the server, when it gives one."""
    try:
        statement = payer_session(payer, timeout=(3, 10), max_retries=0).get_json(
            f"{payer.fhir_base_url.rstrip('/')}/metadata"
        )
    except PayerHTTPError:
        return ""
    if not isinstance(statement, dict):
        return ""
    implementation = statement.get("implementation") or {}
    for value in (implementation.get("description"), statement.get("title"), statement.get("name")):
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:255]
    return ""


def find_payer(fhir_base: str) -> Payer | None:
    """The payer whose base, or one of whose endpoints, is this base (normalised)."""
    key = normalise_url(fhir_base)
    host = urlsplit(fhir_base).hostname or ""
    for payer in Payer.objects.filter(
        Q(fhir_base_url__icontains=host) | Q(endpoints__contains=[{"key": key}])
    ).order_by("pk"):
        if normalise_url(payer.fhir_base_url) == key or key in {
            e.get("key") for e in payer.endpoints
        }:
            return payer
    return None


def add_payer(
    fhir_base: str,
    *,
    name: str = "",
    client_id: str = "",
    client_secret: str = "",
    scopes: str = "",
) -> Onboarded:
    """Discover `fhir_base` and create or update its payer; NotSmartServer if it is none."""
    parts = urlsplit(fhir_base.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise NotSmartServer(f"{fhir_base!r} is not an http(s) URL")
    fhir_base = fhir_base.strip().rstrip("/")
    existing = find_payer(fhir_base)
    # An unsaved stand-in: no limits or tokens of a stored payer are involved in discovery.
    probe = Payer(slug=existing.slug if existing else "new-payer", fhir_base_url=fhir_base)
    try:
        document = fetch_discovery(probe)
    except DiscoveryError as exc:
        raise NotSmartServer(f"{fhir_base} is not a SMART FHIR server ({exc})") from None
    found = discovered_fields(document)
    name = name.strip() or (existing.name if existing else "") or _server_name(probe)
    with transaction.atomic():
        return _save(existing, fhir_base, name, document, found, client_id, client_secret, scopes)


def _save(
    existing: Payer | None,
    fhir_base: str,
    name: str,
    document: dict[str, Any],
    found: dict[str, Any],
    client_id: str,
    client_secret: str,
    scopes: str,
) -> Onboarded:
    payer = existing or Payer(status=Payer.Status.NOT_CONNECTED, source=SOURCE)
    if existing is None:
        payer.name = name or (urlsplit(fhir_base).hostname or fhir_base)
        payer.slug = free_slug(payer.name)
        payer.fhir_base_url = fhir_base
    elif name:
        payer.name = name
    for attr, value in found.items():
        setattr(payer, attr, value)
    if scopes:
        payer.scopes = " ".join(scopes.split())
    elif not found.get("scopes") and not payer.scopes:
        payer.scopes = _DEFAULT_SCOPES if found.get("supports_refresh") else _no_offline()
    if client_id:
        payer.client_id = client_id
    if client_secret:
        payer.client_secret = client_secret
    payer.endpoints = with_endpoint(payer.endpoints, payer.fhir_base_url)
    payer.discovery_document = document
    payer.last_discovery_at = timezone.now()
    payer.last_discovery_ok = True
    payer.last_discovery_error = ""
    payer.discovery_failures = 0
    payer.save()
    return Onboarded(
        payer, existing is None, {"fhir_base_url": payer.fhir_base_url, **found}, _to_do(payer)
    )


def _no_offline() -> str:
    return " ".join(s for s in _DEFAULT_SCOPES.split() if s != "offline_access")


def with_endpoint(
    endpoints: list[dict[str, Any]], url: str, source: str = SOURCE
) -> list[dict[str, Any]]:
    """The endpoints with `url` as a Patient Access endpoint (first) unless already there."""
    key = normalise_url(url)
    if any(e.get("key") == key for e in endpoints):
        return endpoints
    ours = {
        "url": url,
        "key": key,
        "kind": PATIENT_ACCESS,
        "sources": [source],
        "variants": [],
        "patient_access_stated": True,
    }
    return [ours, *endpoints]


def free_slug(name: str, reserved: set[str] | None = None) -> str:
    """A slug from the name that no payer (and nothing in `reserved`) has."""
    base = slugify(name)[:90] or "payer"
    slug, n = base, 1
    while slug in (reserved or ()) or Payer.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def _to_do(payer: Payer) -> list[str]:
    """What discovery cannot know and an admin still has to set."""
    to_do = []
    if not payer.client_id:
        to_do.append("client_id: our client id at the payer (register with its developer portal)")
    secret_auth = payer.token_endpoint_auth_method in (
        Payer.ClientAuthMethod.CLIENT_SECRET_BASIC,
        Payer.ClientAuthMethod.CLIENT_SECRET_POST,
    )
    if secret_auth and not payer.client_secret:
        to_do.append("client_secret: our secret at the payer")
    if payer.token_endpoint_auth_method == Payer.ClientAuthMethod.PRIVATE_KEY_JWT and not (
        payer.client_private_key
    ):
        to_do.append(f"client key: run `manage.py payer_client_key {payer.slug}`")
    if not payer.lines_of_business:
        to_do.append("lines_of_business and states (for the picker's search)")
    to_do.append("patient_id_source (token is assumed) and max_authorization_days")
    if not payer.is_offered:
        to_do.append("verify it is a Patient Access API (admin action; no source says so)")
    if payer.status != Payer.Status.ACTIVE:
        to_do.append("status: set active once a test sign-in works")
    return to_do
