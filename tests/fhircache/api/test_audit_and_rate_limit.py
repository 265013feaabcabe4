"""The FHIR API's data-access audit and per-app rate limit, through HTTP (Django's client).

Audit: every access with a token leaves one row (app, consent, interaction,
type, count, status, request id) written when the response is closed, with no
PHI; the admin lists them per consent. Rate limit: over the app's limit the
answer is 429 `throttled` with X-RateLimit-* headers, other apps unaffected.
"""

from __future__ import annotations

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from fhircache import ratelimit
from fhircache.access_log import DataAccess
from tests.fhircache.api.conftest import issue_token, load, make_consent
from tests.fhircache.conftest import FHIR_DATA

PATIENT_FILE = FHIR_DATA / "cpcds" / "Ariadna374_Aragon562.json"
pytestmark = pytest.mark.django_db


@pytest.fixture
def loaded():
    consent = make_consent()
    load(consent, PATIENT_FILE)
    bundle = orjson.loads(PATIENT_FILE.read_bytes())
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return consent, issue_token(consent), patient


def _get(path: str, token: str | None = None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return Client().get(path, **headers)


def test_each_access_is_recorded_without_phi(loaded):
    consent, token, patient = loaded
    found = _get(f"/fhir/Patient/{patient['id']}", token, HTTP_X_REQUEST_ID="req-audit-0001")
    missing = _get("/fhir/Observation/not-there", token)
    _get("/fhir/Patient/whatever")  # no token: nobody to record

    assert found.status_code == 200 and missing.status_code == 404
    rows = list(DataAccess.objects.filter(consent=consent).order_by("id"))
    assert [(r.interaction, r.resource_type, r.result_count, r.status) for r in rows] == [
        ("read", "Patient", 1, 200),
        ("read", "Observation", 0, 404),
    ]
    assert {r.app_id for r in rows} == {consent.app_id}
    assert rows[0].request_id == "req-audit-0001"
    assert rows[1].request_id == missing["X-Request-Id"]
    assert all(r.duration_ms is not None for r in rows)
    assert DataAccess.objects.count() == 2
    # no PHI: nothing of the resource (id, name, birth date) in any column
    phi = {patient["id"], patient["birthDate"], patient["name"][0]["family"], "not-there"}
    for row in rows:
        values = [str(getattr(row, f.attname)) for f in DataAccess._meta.concrete_fields]
        assert not any(p in v for p in phi for v in values), values


def test_audit_is_listed_per_consent_in_the_admin(loaded, client):
    consent, token, patient = loaded
    other = make_consent()
    _get(f"/fhir/Patient/{patient['id']}", token)
    _get(f"/fhir/Patient/{patient['id']}", issue_token(other))
    admin = get_user_model().objects.create_superuser("audit-admin", "a@example.org", "pw-123456")
    client.force_login(admin)

    detail = client.get(f"/admin/consent/consent/{consent.pk}/change/")
    assert detail.status_code == 200
    link = f"/admin/fhircache/dataaccess/?consent__id__exact={consent.pk}"
    assert link in detail.content.decode()
    listed = client.get(link)
    assert listed.status_code == 200
    assert list(listed.context["cl"].result_list) == list(
        DataAccess.objects.filter(consent=consent)
    )
    assert len(listed.context["cl"].result_list) == 1


def _issue_codes(response) -> list[str]:
    return [i["code"] for i in orjson.loads(response.content)["issue"]]


def test_over_the_limit_is_429_throttled_with_headers(loaded, settings):
    settings.FHIR_RATE_LIMIT_PER_WINDOW = 3
    settings.FHIR_RATE_LIMIT_WINDOW = 3600
    consent, token, patient = loaded
    path = f"/fhir/Patient/{patient['id']}"
    answers = [_get(path, token) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert {a["X-RateLimit-Limit"] for a in answers} == {"3"}
    refused = answers[-1]
    assert _issue_codes(refused) == ["throttled"]
    assert refused["Content-Type"].startswith("application/fhir+json")
    assert 0 < int(refused["X-RateLimit-Reset"]) <= 3600
    assert refused["Retry-After"] == refused["X-RateLimit-Reset"]
    # the refusal is audited too, and another app keeps its own budget
    assert DataAccess.objects.filter(consent=consent, status=429).count() == 1
    other = make_consent()
    load(other, PATIENT_FILE)
    assert _get(path, issue_token(other)).status_code == 200


def test_still_syncing_is_a_different_429(settings):
    """Clients tell 'slow down' (throttled) from 'still syncing' (transient)."""
    settings.FHIR_RATE_LIMIT_PER_WINDOW = 100
    consent = make_consent(data_state="syncing")
    answer = _get("/fhir/Patient/p1", issue_token(consent))
    assert answer.status_code == 429 and _issue_codes(answer) == ["transient"]
    assert "Retry-After" in answer and answer["X-RateLimit-Remaining"] == "99"


@pytest.mark.parametrize(
    ("used", "now", "expected"),
    [
        (1, 120.0, ratelimit.Quota(10, 9, 60, True)),
        (10, 150.5, ratelimit.Quota(10, 0, 30, True)),
        (11, 179.9, ratelimit.Quota(10, 0, 1, False)),
    ],
)
def test_window_arithmetic(used, now, expected):
    assert ratelimit.window_count(10, 60, used, now) == expected


@pytest.mark.django_db(transaction=True)
def test_deferred_audit_rows_are_written_in_batches(loaded, settings):
    """The production mode: rows wait in the process and land in one batch."""
    from fhircache import audit_writer

    settings.FHIR_AUDIT_FLUSH_SECONDS = 3600  # only an explicit flush (or exit) writes
    consent, token, patient = loaded
    for _ in range(3):
        assert _get(f"/fhir/Patient/{patient['id']}", token).status_code == 200
    assert not DataAccess.objects.filter(consent=consent).exists()
    audit_writer.flush()
    assert DataAccess.objects.filter(consent=consent, interaction="read").count() == 3
