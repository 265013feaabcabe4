"""Many sandbox payers with generated quirk profiles: a client that copes with all of them.

This is what the ETL must do against real payers: find the patient id where the
payer puts it, follow whatever next links it sends, and ride out 429s and 503s.
"""

from __future__ import annotations

from urllib.parse import urljoin

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from payers.http import payer_session
from payers.models import Payer
from payers.sandbox import datasets
from payers.sandbox.profiles import QuirkProfile, SandboxPatient, generated_profile
from payers.sandbox.seed import register_sandbox_payer
from tests.payers.smart import login, redirect_uri_for

pytestmark = pytest.mark.django_db

COUNT = 100


@pytest.fixture
def generated(sandbox_server, live_server, django_db_blocker) -> list[Payer]:
    patients = [SandboxPatient("gen-one", "payerbridge", "carin-smile-1")]
    with django_db_blocker.unblock():
        return [
            register_sandbox_payer(
                f"generated-{seed}",
                f"Generated {seed}",
                generated_profile(seed, patients),
                sandbox_server.url,
                live_server.url,
            )
            for seed in range(COUNT)
        ]


def _patient_id(payer: Payer, body: dict, session) -> str:
    if "patient" in body:
        return body["patient"]
    if payer.patient_id_source == "id_token":
        keys = session.get_json(f"{payer.authorize_url.rsplit('/', 1)[0]}/jwks")
        claims = jwt.decode(body["id_token"], KeySet.import_key_set(keys)).claims
        return claims["fhirUser"].rsplit("/", 1)[-1]
    if payer.patient_id_source == "userinfo":
        info = session.get_json(payer.discovery_document["userinfo_endpoint"])
        return info["fhirUser"].rsplit("/", 1)[-1]
    bundle = session.get_json(f"{payer.fhir_base_url}/Patient")
    return bundle["entry"][0]["resource"]["id"]


def test_generated_profiles_are_reproducible_and_varied():
    patients = [SandboxPatient("u", "p", "carin-smile-1")]
    profiles = [generated_profile(seed, patients) for seed in range(COUNT)]

    assert generated_profile(7, patients) == generated_profile(7, patients)
    assert QuirkProfile.from_dict(profiles[3].to_dict()) == profiles[3]
    assert {p.paging for p in profiles} == {"opaque", "offset"}
    assert {p.reference_style for p in profiles} == {"relative", "absolute", "urn_uuid"}
    assert {p.patient_id_source for p in profiles} == {
        "token",
        "id_token",
        "userinfo",
        "patient_search",
    }


def test_a_careful_client_reads_every_generated_payer_the_same(generated, live_server):
    expected = {r["id"] for r in datasets.load("carin-smile-1").by_type("ExplanationOfBenefit")}
    # End to end: one payer per (patient id location, paging style); all are registered.
    sample = {(p.patient_id_source, p.quirks["paging"]): p for p in reversed(generated)}
    assert len(sample) == 8
    for payer in sample.values():
        body = login(payer, "gen-one", redirect_uri_for(live_server.url))
        session = payer_session(payer)
        session.headers["Authorization"] = f"Bearer {body['access_token']}"
        patient = _patient_id(payer, body, session)

        url: str | None = f"{payer.fhir_base_url}/ExplanationOfBenefit?patient={patient}"
        seen: list[str] = []
        while url:
            bundle = session.get_json(url)
            seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
            nxt = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
            url = urljoin(url, nxt[0]) if nxt else None

        assert patient == "1", payer.slug
        assert sorted(seen) == sorted(expected), payer.slug


def test_sandbox_payers_know_their_discovery_document_at_seed(sandbox_payers, sandbox_server):
    payer = Payer.objects.get(slug="prairie-medicaid")

    assert payer.discovery_document["token_endpoint"] == payer.token_url
    assert payer.discovery_document["userinfo_endpoint"].startswith(sandbox_server.url)
    assert payer.max_authorization_days is None  # no refresh tokens at this payer
    assert Payer.objects.get(slug="lakeshore-health").max_authorization_days == 90
