"""The FHIR API behind gunicorn as `make run` starts it: absolute paging links followed
verbatim, gzip on the wire, CORS, no redirects, hostile input never a 500."""

from __future__ import annotations

import pytest
import requests

from tests.fhircache.api.conftest import FILES, raw_resources
from tests.services import Gateway, wait_until

pytestmark = pytest.mark.django_db
EOB = "ExplanationOfBenefit"


class FhirGateway(Gateway):
    """The gateway, probed on /fhir/metadata (/healthz waits on Celery workers, none here),
    patiently: a fresh worker's first request imports the whole API, slow on a busy machine."""

    probe_path = "/fhir/metadata"

    def wait_ready(self, timeout: float = 120) -> FhirGateway:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited early:\n{self.output()[-3000:]}")
            try:
                return requests.get(f"{self.url}{self.probe_path}", timeout=30).ok
            except requests.RequestException:
                return False

        wait_until(answers, timeout, what="gateway to answer")
        return self


@pytest.fixture(scope="module")
def gateway_with_data(patient_cache, process_env):
    gateway = FhirGateway(process_env)
    try:
        gateway.wait_ready()
        yield gateway, {"Authorization": f"Bearer {patient_cache.token}"}
    finally:
        gateway.stop()


def test_paging_links_work_as_given_over_http(gateway_with_data):
    gateway, auth = gateway_with_data
    session = requests.Session()
    url = f"{gateway.url}/fhir/{EOB}?_count=5&_sort=-_lastUpdated&_total=accurate"
    ids = []
    while url:
        response = session.get(url, headers={**auth, "Origin": "https://app.example"}, timeout=10)
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        body = response.json()
        ids += [e["resource"]["id"] for e in body["entry"]]
        url = next((link["url"] for link in body["link"] if link["relation"] == "next"), None)
        assert url is None or url.startswith(f"{gateway.url}/fhir/{EOB}?")
    want = [r["id"] for r in raw_resources(*FILES) if r["resourceType"] == EOB]
    assert sorted(ids) == sorted(want) and len(ids) == len(set(ids)) == body["total"]


@pytest.mark.parametrize(
    "path",
    [
        "/fhir/Patient/",
        f"/fhir/{EOB}?_id=%00",
        f"/fhir/{EOB}?patient=%00&type=a%00|b",
        "/fhir/Patient?family=%00&birthdate=ge%00",
        f"/fhir/{EOB}?_sort=%00",
        f"/fhir/{EOB}?_cursor=%00",
        f"/fhir/{EOB}?_include=%00:%00",
        f"/fhir/{EOB}?service-date=9999-12-31T23:59:59-05:00",
        f"/fhir/{EOB}?service-date=ap0001",
        f"/fhir/{EOB}?_count=99999999999999999999999",
        f"/fhir/{EOB}?" + "a" * 3000 + "=1",
    ],
)
def test_hostile_input_is_an_outcome_never_a_500(gateway_with_data, path):
    gateway, auth = gateway_with_data
    response = requests.get(gateway.url + path, headers=auth, allow_redirects=False, timeout=10)
    assert response.status_code in (200, 400, 404), response.text
    body = response.json()
    assert body["resourceType"] in ("Bundle", "OperationOutcome")
