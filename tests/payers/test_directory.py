"""The real payer directory: import, seed, picker search over HTTP, admin."""

from __future__ import annotations

import time
from dataclasses import asdict
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import RequestFactory

from payers.directory import search_payers
from payers.importer import FIXTURE, build_directory, read_fixture
from payers.models import Payer
from payers.sandbox.profiles import NAMED
from tests.forms import find_form

pytestmark = pytest.mark.django_db


def test_shipped_fixture_is_the_current_import_of_the_lists():
    built = build_directory()

    assert [asdict(e) for e in built] == [asdict(e) for e in read_fixture()]
    assert FIXTURE.exists()


def test_import_is_idempotent_and_keeps_each_source():
    out = StringIO()
    call_command("import_payers", stdout=out)
    call_command("import_payers", stdout=out)

    assert "0 created" in out.getvalue().splitlines()[-1]
    kansas = Payer.objects.get(slug="kansas-medicaid")
    assert kansas.states == ["KS"] and kansas.lines_of_business == ["medicaid"]
    # the newest (dated) source first, the others still listed
    assert kansas.source.startswith("cms-sma:SMAEndpointDirectory.csv (Kansas)")
    assert "lantern:medicaid-state-endpoints.csv" in kansas.source
    assert "lantern:MedicaidState_EndpointSources.json" in kansas.source  # deduplicated
    anthem = Payer.objects.get(slug="anthem-blue-cross-blue-shield")
    assert anthem.source.startswith("fhir-gateway:anthem-patient.json")
    assert anthem.authorize_url.endswith("/connect/authorize")
    assert anthem.status == Payer.Status.NOT_CONNECTED


def test_seed_demo_loads_real_directory_and_sandbox_payers(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "a-test-password")  # DEBUG is off in tests
    out = StringIO()
    call_command("seed_demo", stdout=out)
    call_command("seed_demo", stdout=StringIO())

    assert Payer.objects.filter(is_sandbox=False).count() > 100
    assert Payer.objects.filter(is_sandbox=True, status=Payer.Status.ACTIVE).count() == len(NAMED)
    # Earlier tests of the run may have added payers of their own (add_payer, --csv).
    real = Payer.objects.filter(is_sandbox=False).count()
    assert real >= 115
    assert f"Payer directory: {real} real payers, 141 Patient Access endpoints" in out.getvalue()
    assert "lakeshore-health [well-behaved]" in out.getvalue()


@pytest.fixture
def directory(sandbox_payers):
    call_command("import_payers", stdout=StringIO())


def _results(page: requests.Response) -> list[str]:
    import re

    return re.findall(r'<span class="payer-name">([^<]+)</span>', page.text)


def test_picker_finds_by_alias_over_http(directory, live_server):
    page = requests.get(f"{live_server.url}/payers/", params={"q": "uhc"}, timeout=10)

    assert page.status_code == 200
    assert _results(page) == ["UnitedHealthcare"]
    assert "not yet available" in page.text
    form = find_form(page, "Search")
    assert form.labels == {"Find your health plan": "payer-query"}


def test_picker_finds_by_state_code_and_name(directory, live_server):
    by_code = _results(requests.get(f"{live_server.url}/payers/", params={"q": "KS"}, timeout=10))
    by_name = _results(
        requests.get(f"{live_server.url}/payers/", params={"q": "kansas medicaid"}, timeout=10)
    )

    assert "Kansas Medicaid" in by_code
    assert "Blue Cross and Blue Shield of Kansas" in by_code
    assert "Alabama Medicaid" not in by_code
    assert by_name == ["Kansas Medicaid"]


@pytest.mark.parametrize("raw_query", ["%00", "blue%00cross", "%ff%fe%c3", "x" * 5000])
def test_picker_answers_hostile_queries_without_error(directory, live_server, raw_query):
    page = requests.get(f"{live_server.url}/payers/?q={raw_query}", timeout=10)

    assert page.status_code == 200
    assert "matching" in page.text


def test_control_characters_split_terms_instead_of_failing(directory):
    assert [p.name for p in search_payers("uhc\x00")] == ["UnitedHealthcare"]


def test_search_orders_active_first_and_hides_disabled(directory):
    Payer.objects.filter(slug="iowa-medicaid").update(status=Payer.Status.DISABLED)

    results = search_payers("medicaid")
    names = [p.name for p in results]

    assert results[0].status == Payer.Status.ACTIVE  # Prairie State Medicaid (sandbox)
    assert "Iowa Medicaid" not in names
    assert search_payers("medicaid", sandbox=True)[0].slug == "prairie-medicaid"
    assert search_payers("zzzz-no-such-plan") == []


def test_picker_partial_offers_only_active_payers_for_choice(directory):
    results = search_payers("medicaid")
    request = RequestFactory().get("/")

    html = render_to_string(
        "payers/_picker.html",
        {"query": "medicaid", "results": results, "select_action": "/x", "search_action": "/s"},
        request=request,
    )

    assert 'name="payer" value="prairie-medicaid"' in html
    assert "Choose Prairie State Medicaid (sandbox)" in html
    assert 'value="kansas-medicaid"' not in html  # not connected: shown, not selectable
    assert "csrfmiddlewaretoken" in html


def test_picker_is_fast_with_the_real_directory(directory, live_server):
    started = time.perf_counter()
    for query in ("blue", "TX", "medicaid", "anthem ca", "new york"):
        assert requests.get(f"{live_server.url}/payers/", params={"q": query}, timeout=10).ok
    assert time.perf_counter() - started < 5


def test_admin_lists_filters_and_disables(directory, admin_client):
    listing = admin_client.get(
        "/admin/payers/payer/", {"lob": "medicaid", "state": "KS", "q": "kansas"}
    )
    assert listing.status_code == 200
    assert "Kansas Medicaid" in listing.content.decode()

    kansas = Payer.objects.get(slug="kansas-medicaid")
    response = admin_client.post(
        "/admin/payers/payer/",
        {"action": "disable", "_selected_action": [kansas.pk]},
    )
    assert response.status_code == 302
    kansas.refresh_from_db()
    assert kansas.status == Payer.Status.DISABLED
    for health in ("ok", "failing", "unknown"):
        assert admin_client.get("/admin/payers/payer/", {"health": health}).status_code == 200


def test_admin_never_shows_our_payer_secrets_and_keeps_them_when_left_blank(
    directory, admin_client
):
    import json

    from django.forms.models import model_to_dict

    from payers.admin import PayerAdminForm

    payer = Payer.objects.get(slug="kansas-medicaid")
    payer.client_secret = "s3cret-at-the-payer"
    payer.client_private_key = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----"
    payer.save()

    page = admin_client.get(f"/admin/payers/payer/{payer.pk}/change/").content.decode()
    assert "s3cret-at-the-payer" not in page
    assert "BEGIN PRIVATE KEY" not in page
    assert "Leave blank to keep it" in page

    data = {
        name: json.dumps(value) if isinstance(value, list | dict) else value
        for name, value in model_to_dict(payer).items()
        if value is not None
    }
    renamed = PayerAdminForm(
        {
            **data,
            "client_secret": "",
            "client_private_key": "",
            "name": "Kansas Medicaid (KanCare)",
        },
        instance=payer,
    )
    assert renamed.is_valid(), renamed.errors
    renamed.save()
    payer.refresh_from_db()
    assert payer.name == "Kansas Medicaid (KanCare)"
    assert payer.client_secret == "s3cret-at-the-payer"
    assert payer.client_private_key.startswith("-----BEGIN PRIVATE KEY-----")

    replaced = PayerAdminForm({**data, "client_secret": "new-secret"}, instance=payer)
    assert replaced.is_valid(), replaced.errors
    replaced.save()
    payer.refresh_from_db()
    assert payer.client_secret == "new-secret"
