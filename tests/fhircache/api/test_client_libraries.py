"""Unchanged FHIR client libraries against a live gateway (real HTTP).

- the Python `fhirclient` (SMART's, models and server API) reads, searches and
  pages through every page of a search;
- the SMART JS client `fhirclient` (npm, node adapter; tests/js/smart_app.mjs)
  does its own standalone launch (discovery, PKCE S256, our authorize pages, a
  patient signing in at a sandbox payer, the code exchange), then reads the
  patient and pages an EOB search with the token it obtained.

Expected results are read off the raw JSON of the loaded file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import orjson
import pytest
import requests
from fhirclient.models.explanationofbenefit import ExplanationOfBenefit
from fhirclient.models.patient import Patient
from fhirclient.server import FHIRServer

from consent.apps_registry import register_app
from consent.models import Consent
from fhircache.loader import load_resources
from tests.consent.test_journey import click_through, sandbox  # noqa: F401 - fixture
from tests.fhircache.api.conftest import issue_token, make_consent
from tests.fhircache.conftest import FHIR_DATA, source_for
from tests.services import Process, free_port, wait_until

PATIENT_FILE = FHIR_DATA / "cpcds" / "Ariadna374_Aragon562.json"
JS_DIR = Path(__file__).resolve().parents[2] / "js"
SCOPE = "launch/patient openid fhirUser patient/*.read"


@pytest.fixture
def gateway(live_server, settings) -> str:
    """The live gateway's origin, which is also its public base URL (links, aud)."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


def _raw(resource_type: str) -> list[dict]:
    bundle = orjson.loads(PATIENT_FILE.read_bytes())
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


@pytest.mark.django_db(transaction=True)
def test_python_fhirclient_reads_searches_and_pages(gateway):
    consent = make_consent()
    load_resources(consent, [PATIENT_FILE.read_bytes()], source=source_for())
    (patient,) = _raw("Patient")
    Consent.objects.filter(pk=consent.pk).update(patient_id=patient["id"])
    server = FHIRServer(
        None,
        state={
            "base_uri": f"{gateway}/fhir/",  # fhirclient joins relative paths to it
            "auth_type": "oauth2",
            "auth": {"app_id": consent.app.client_id, "access_token": issue_token(consent)},
        },
    )

    read = Patient.read(patient["id"], server)
    assert read.id == patient["id"]
    assert read.name[0].family == patient["name"][0]["family"]
    assert read.birthDate.isostring == patient["birthDate"]

    found = list(Patient.where({}).perform_resources_iter(server))
    assert [p.id for p in found] == [patient["id"]]

    expected = sorted(e["id"] for e in _raw("ExplanationOfBenefit"))
    assert len(expected) > 7
    search = ExplanationOfBenefit.where(
        {"patient": patient["id"], "_count": "7", "_total": "accurate"}
    )
    pages = list(search.perform_iter(server))
    assert len(pages) == -(-len(expected) // 7)
    got = [e.resource.id for page in pages for e in page.entry or [] if e.search.mode == "match"]
    assert sorted(got) == expected  # every match once, across every page
    assert all(page.total == len(expected) for page in pages)


def _node() -> str | None:
    node = shutil.which("node")
    if node is None or not (JS_DIR / "node_modules" / "fhirclient").is_dir():
        return None
    return node


@pytest.mark.skipif(_node() is None, reason="node or tests/js/node_modules missing (make js)")
@pytest.mark.django_db(transaction=True)
def test_smart_js_client_launches_and_reads(gateway, sandbox):  # noqa: F811 - fixture
    payer, login = sandbox
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    app = register_app("JS app", [f"{app_url}/callback"], public=True).app
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": app.client_id, "SCOPE": SCOPE}
    node_app = Process([_node(), str(JS_DIR / "smart_app.mjs")], env, "smart-js")
    try:
        wait_until(lambda: "listening" in node_app.output(), 30, what="node app")
        browser = requests.Session()
        first = browser.get(f"{app_url}/launch", params={"iss": f"{gateway}/fhir"}, timeout=30)
        assert first.url.startswith(gateway), first.url  # fhirclient sent us to our authorize
        back = click_through(browser, first, payer, login)
        assert back.startswith(f"{app_url}/callback?")
        launched = browser.get(back, timeout=30)
        assert launched.status_code == 200, node_app.output()[-2000:]
        context = launched.json()
        assert context["patient"] == login["patient_id"]

        consent = Consent.objects.get(pk=context["consent_id"])
        pid = consent.patient_id
        records = [{"resource": {"resourceType": "Patient", "id": pid, "gender": "unknown"}}]
        records += [_eob(f"js-eob-{n}", pid) for n in range(3)]
        load_resources(
            consent,
            [orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": records})],
            source=source_for(),
        )
        Consent.objects.filter(pk=consent.pk).update(data_state="ready")

        read = browser.get(f"{app_url}/read", timeout=60)
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["patient"]["id"] == pid
        assert sorted(body["eob_ids"]) == ["js-eob-0", "js-eob-1", "js-eob-2"]  # two pages
    finally:
        node_app.stop()


def _eob(rid: str, patient_id: str) -> dict:
    return {
        "resource": {
            "resourceType": "ExplanationOfBenefit",
            "id": rid,
            "status": "active",
            "type": {"coding": [{"system": "urn:t", "code": "x"}]},
            "use": "claim",
            "patient": {"reference": f"Patient/{patient_id}"},
            "created": "2024-01-01",
            "insurer": {"display": "Plan"},
            "provider": {"display": "Clinic"},
            "outcome": "complete",
            "insurance": [{"focal": True, "coverage": {"display": "Coverage"}}],
        }
    }
