"""One patient id: at every sandbox payer (one whose patient ids are not valid
FHIR ids included), the token response's `patient`, the id_token's `fhirUser`,
`Consent.patient_id` and the synced Patient's id are one string, and the token
reads that Patient through the FHIR API. The payer's id is kept as sent."""

from __future__ import annotations

import base64
import json
import re
from io import StringIO

import orjson
import pytest
import requests
from django.core.management import call_command

from consent.models import Consent
from consent.patient_ids import is_valid_id, served_id
from etl.models import SyncJob
from fhircache import repository
from fhircache.normalize.provenance import SOURCE_EXTENSION
from payers.models import Payer
from payers.sandbox import datasets
from payers.sandbox.models import SandboxPayer
from payers.sandbox.profiles import NAMED, QuirkProfile
from tests.consent.conftest import (  # noqa: F401 - fixtures
    _public_base_url,
    authorize_params,
    make_client,
    pkce_pair,
    query_of,
)
from tests.consent.test_journey import click_through
from tests.etl.sandbox_sync import wait_for_job

SCOPE = "launch/patient openid fhirUser offline_access patient/*.read"


def _claims(id_token: str) -> dict:
    payload = id_token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _login(slug: str) -> dict:
    info = StringIO()
    call_command("sandbox_info", "--json", stdout=info)
    [entry] = [e for e in json.loads(info.getvalue()) if e["slug"] == slug]
    return entry["patients"][0]


def _sent_patient(slug: str) -> dict:
    """The Patient the sandbox payer serves (its dataset's, as the payer sends it)."""
    profile = QuirkProfile.from_dict(SandboxPayer.objects.get(slug=slug).profile)
    return datasets.load(profile.patients[0].dataset).resources[0]


def _without_filled_displays(identifiers: list[dict]) -> list[dict]:
    return orjson.loads(re.sub(rb',"display":"[^"]*"', b"", orjson.dumps(identifiers)))


def _token_response(live_server, client, payer: Payer, login: dict) -> dict:
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, scope=SCOPE)
    browser = requests.Session()
    first = browser.get(f"{live_server.url}/oauth/authorize", params=params, timeout=30)
    back = click_through(browser, first, payer, login)
    response = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(back)["code"],
            "redirect_uri": params["redirect_uri"],
            "code_verifier": verifier,
        },
        auth=client.auth(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_shipped_sandbox_payer_has_patient_ids_that_are_not_fhir_ids(sandbox_payers):
    odd = [
        login["patient_id"]
        for slug in NAMED
        for login in [_login(slug)]
        if not is_valid_id(login["patient_id"])
    ]
    assert odd == ["567834_MBI:1S00-E00-AA00"]


@pytest.mark.parametrize("slug", list(NAMED))
def test_the_tokens_patient_reads_the_consents_patient(
    live_server,
    make_client,  # noqa: F811 - the fixture imported above
    sandbox_payers,
    celery_worker,
    slug,
):
    payer = Payer.objects.get(slug=slug)
    login = _login(slug)
    client = make_client()
    token = _token_response(live_server, client, payer, login)

    served = served_id(login["patient_id"])  # the payer's id, mapped when it is no FHIR id
    consent = Consent.objects.get(pk=token["consent_id"])
    assert token["patient"] == consent.patient_id == served
    assert _claims(token["id_token"])["fhirUser"] == f"{live_server.url}/fhir/Patient/{served}"
    assert consent.payer_patient_id == login["patient_id"]

    job = wait_for_job(consent, timeout=240)
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    row = repository.read(consent, "Patient", token["patient"])
    assert row is not None, repository.counts(consent)
    patient = orjson.loads(row.content)
    assert patient["id"] == token["patient"]
    [source] = [e for e in patient["meta"]["extension"] if e["url"] == SOURCE_EXTENSION]
    assert {"url": "originalId", "valueString": login["patient_id"]} in source["extension"]
    # the payer's member identifiers as the payer sent them (only a missing
    # display of their type coding may have been filled from HL7's table)
    assert _without_filled_displays(patient["identifier"]) == _without_filled_displays(
        _sent_patient(slug)["identifier"]
    )

    api = requests.get(
        f"{live_server.url}/fhir/Patient/{token['patient']}",
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )
    assert api.status_code == 200, api.text[:500]
    assert api.json()["id"] == token["patient"]
    # and its EOBs point at it
    eobs = requests.get(
        f"{live_server.url}/fhir/ExplanationOfBenefit",
        params={"patient": token["patient"], "_count": 5},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )
    assert eobs.status_code == 200, eobs.text[:500]
    entries = eobs.json().get("entry", [])
    assert entries and all(
        e["resource"]["patient"]["reference"] == f"Patient/{token['patient']}"
        for e in entries
        if e.get("search", {}).get("mode", "match") == "match"
    )
