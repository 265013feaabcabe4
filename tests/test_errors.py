"""Unknown addresses answer in the dialect of their API, never with a traceback."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.django_db


def test_unknown_fhir_path_is_an_operation_outcome(live_server):
    response = requests.get(f"{live_server.url}/fhir/NoSuchType/1/2/3", timeout=10)

    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "not-found"


@pytest.mark.parametrize("path", ["/oauth/nope", "/api/consents/not-a-uuid/revoke"])
def test_unknown_api_path_is_a_json_error(live_server, path):
    response = requests.post(f"{live_server.url}{path}", timeout=10)

    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_unknown_page_is_a_plain_page_without_debug_details(live_server):
    response = requests.get(f"{live_server.url}/no/such/page", timeout=10)

    assert response.status_code == 404
    assert "There is nothing at this address." in response.text
    assert "Traceback" not in response.text
    assert "URLconf" not in response.text


def test_home_page_links_the_entry_points(live_server):
    response = requests.get(live_server.url, timeout=10)

    assert response.status_code == 200
    for link in ("/payers/", "/fhir/metadata", "/admin/", "/healthz"):
        assert f'href="{link}"' in response.text


def test_sandbox_unknown_fhir_path_is_an_operation_outcome(sandbox_server):
    response = requests.get(f"{sandbox_server.url}/sandbox/x/fhir/A/b/c/d", timeout=10)

    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
