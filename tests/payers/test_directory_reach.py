"""The shipped directory's reach and shape: every public source, one row per plan.

Facts checked against the raw lists in `payers/directory_sources/` (and their
SOURCE.md files), not against the importer's own tables.
"""

from __future__ import annotations

import re
from collections import Counter
from io import StringIO

import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from payers.directory import search_payers, search_queryset
from payers.importer import SOURCES_DIR, load_entries, normalise_url, read_fixture
from payers.models import Payer

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def entries():
    return read_fixture()


def test_at_least_140_distinct_patient_access_endpoints_each_with_sources(entries):
    endpoints = [e for entry in entries for e in entry.endpoints]
    access = [e for e in endpoints if e["kind"] == "patient_access"]

    assert len(access) >= 140
    assert all(e["sources"] for e in endpoints) and all(entry.sources for entry in entries)
    keys = [normalise_url(e["url"]) for e in endpoints]
    assert len(keys) == len(set(keys)), Counter(keys).most_common(3)
    bases = [normalise_url(entry.fhir_base_url) for entry in entries if entry.fhir_base_url]
    assert len(bases) == len(set(bases))


def test_no_formulary_directory_or_sandbox_endpoint_is_a_payer_base(entries):
    for entry in entries:
        if entry.fhir_base_url:
            base = entry.endpoints[0]
            assert base["url"] == entry.fhir_base_url and base["kind"] == "patient_access"
        assert not re.search(r"formulary|provider directory", entry.name, re.I)
    anthem = next(e for e in entries if e.slug == "anthem-blue-cross-blue-shield")
    kinds = {e["kind"] for e in anthem.endpoints}
    assert {"formulary", "provider_directory"} <= kinds  # kept, as what they are


def test_ehr_lab_and_sandbox_records_of_fhir_gateway_are_not_imported(entries):
    urls = {normalise_url(e["url"]) for entry in entries for e in entry.endpoints}
    for path in (SOURCES_DIR / "fhir-gateway").glob("*.json"):
        record = orjson.loads(path.read_bytes())
        if record.get("type") not in ("payer", "government") and record.get("fhir_base_url"):
            assert normalise_url(record["fhir_base_url"]) not in urls, path.name


def _chpl_lookalikes() -> tuple[set[str], list[str]]:
    """URLs marked "skip" and names called "not health plans" in lantern-chpl/SOURCE.md."""
    text = (SOURCES_DIR / "lantern-chpl" / "SOURCE.md").read_text()
    skipped = {
        m.group(1)
        for line in text.splitlines()
        if "skip" in line and line.startswith("|")
        for m in re.finditer(r"`(https?://[^`]+)`", line)
    }
    paragraph = text[text.index("Not health plans") :]
    names = [*re.findall(r'"([^"]+)"', paragraph), "Kaiser Permanente"]
    return skipped, names


def test_every_lookalike_the_source_notes_name_is_absent(entries):
    skipped, names = _chpl_lookalikes()
    assert len(skipped) >= 4 and "Molina Care Connections" in names
    lookalike_urls = set(map(normalise_url, skipped))
    for path in (SOURCES_DIR / "lantern-chpl").glob("*.json"):
        for item in orjson.loads(path.read_bytes())["Endpoints"]:
            if any(name.lower() in item["OrganizationName"].lower() for name in names):
                lookalike_urls.add(normalise_url(item["URL"]))
    imported = {normalise_url(e["url"]) for entry in entries for e in entry.endpoints}
    assert not lookalike_urls & imported
    all_names = " ".join(n for entry in entries for n in [entry.name, *entry.aliases]).lower()
    for name in names:
        assert name.lower() not in all_names, name


def test_cms_state_directory_wins_and_the_older_url_stays_listed(entries):
    by_slug = {e.slug: e for e in entries}
    arkansas = by_slug["arkansas-medicaid"]
    assert arkansas.fhir_base_url == "https://fite.ar-prd.gw02.abacusinsights.ai/carin-bb"
    assert arkansas.endpoints[0]["variants"] == ["https://fite.ar-prd.gw02.abacusinsights.ai/pdex"]
    older = next(e for e in arkansas.endpoints if e["url"] == "https://api.arkansasfhir.com/r4")
    assert older["sources"][0].startswith("lantern:")
    assert arkansas.sources[0] == "cms-sma:SMAEndpointDirectory.csv (Arkansas)"
    assert by_slug["texas-medicaid"].fhir_base_url == "https://cmsinterop.tmhp.com/tmhp/fhir/R4/"
    assert by_slug["south-carolina-medicaid"].published_status == "offline"
    florida = by_slug["florida-medicaid"]
    assert (florida.published_status, florida.go_live_date) == ("in_development", "2026-07-01")
    # a bare 1upHealth host is completed to its /r4 base, as CMS's SOURCE.md says
    assert by_slug["new-york-medicaid"].fhir_base_url == "https://api.newyorkfhir.com/r4"
    assert by_slug["ohio-medicaid"].fhir_base_url == ""  # status only: in development


def test_plan_tenants_on_an_ehr_host_are_unconfirmed_and_payers_otherwise_not(entries):
    by_slug = {e.slug: e for e in entries}
    geisinger = by_slug["geisinger-health-plan"]
    assert geisinger.patient_access_unconfirmed and len(geisinger.endpoints) == 3
    assert not by_slug["alignment-health-plan"].patient_access_unconfirmed  # says Patient Access
    # BCBS Louisiana's Patient Access base wins; its Oracle Health tenants stay alternatives
    louisiana = by_slug["blue-cross-and-blue-shield-of-louisiana"]
    assert "safhir.io" in louisiana.fhir_base_url and not louisiana.patient_access_unconfirmed
    assert sum("fhir-myrecord.cerner.com" in e["url"] for e in louisiana.endpoints) == 2


@pytest.fixture
def directory(sandbox_payers):
    call_command("import_payers", stdout=StringIO())


def test_one_row_per_plan_and_pickable_names_are_distinct(directory):
    offered = list(search_queryset(""))
    names = Counter(p.name.lower() for p in offered)

    assert names.most_common(1)[0][1] == 1, names.most_common(3)
    assert [p.name for p in search_payers("aetna")] == ["Aetna"]
    assert [p.name for p in search_payers("amerigroup")] == ["Amerigroup", "Amerigroup Medicaid"]
    assert search_payers("formulary") == []


def test_unconfirmed_plans_are_offered_only_once_verified(directory):
    assert search_payers("geisinger") == []

    Payer.objects.filter(slug="geisinger-health-plan").update(
        patient_access_verified_at=timezone.now(), status=Payer.Status.ACTIVE
    )

    (geisinger,) = search_payers("geisinger")
    assert geisinger.is_selectable


def test_offline_or_not_yet_live_plans_are_not_yet_available(directory, live_server):
    import requests

    Payer.objects.filter(slug__in=["south-carolina-medicaid", "florida-medicaid"]).update(
        status=Payer.Status.ACTIVE, client_id="ours"
    )
    page = requests.get(f"{live_server.url}/payers/", params={"q": "medicaid SC"}, timeout=10)

    assert "South Carolina Medicaid" in page.text
    assert 'not yet available</span> <span class="payer-availability">(Offline' in page.text
    florida = Payer.objects.get(slug="florida-medicaid")
    assert not florida.is_selectable
    assert florida.availability_note == "In development, planned go-live Jul 1, 2026"


def test_reimport_folds_an_older_imports_rows_for_one_plan(directory):
    Payer.objects.filter(slug="amerigroup").delete()
    Payer.objects.create(
        slug="amerigroup",
        name="Amerigroup",
        fhir_base_url="https://patient360c.amerigroup.com/P360Member/api/fhir",
    )
    registered = Payer.objects.create(
        slug="amerigroup-fhir-r4",
        name="Amerigroup",
        fhir_base_url="https://patient360c.amerigroup.com/P360Member/api/fhir-r4",
        client_id="our-client",
        status=Payer.Status.ACTIVE,
    )

    load_entries(read_fixture())

    (kept,) = Payer.objects.filter(name="Amerigroup")
    assert kept.pk == registered.pk and kept.slug == "amerigroup"
    assert kept.client_id == "our-client" and kept.status == Payer.Status.ACTIVE
    assert len(kept.endpoints) == 2
