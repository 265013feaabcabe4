"""Health from real syncs: recorded per payer, shown in the picker, flagged in the admin."""

from __future__ import annotations

import re

import pytest
import requests
from django.template.loader import render_to_string

from payers.directory import search_payers
from payers.models import SYNC_FAILURES_FLAGGED, Payer

pytestmark = pytest.mark.django_db


def _payer(slug: str = "plan", **fields) -> Payer:
    return Payer.objects.create(slug=slug, name=slug.title(), **fields)


def _record(payer: Payer, *results: bool) -> Payer:
    for ok in results:
        Payer.record_sync(payer.pk, ok)
    payer.refresh_from_db()
    return payer


def test_failures_in_a_row_flag_a_payer_until_a_sync_succeeds():
    payer = _record(_payer(), True, True)
    last_ok = payer.last_sync_success_at
    assert not payer.sync_failing and payer.last_successful_sync_at == last_ok

    payer = _record(payer, *[False] * SYNC_FAILURES_FLAGGED)

    assert payer.sync_failing and payer.sync_failures_in_a_row == SYNC_FAILURES_FLAGGED
    assert payer.last_successful_sync_at == last_ok and payer.last_sync_at > last_ok
    assert payer.success_rate == pytest.approx(2 / 5)
    assert list(Payer.objects.filter(Payer.sync_failing_q())) == [payer]

    payer = _record(payer, True)
    assert not payer.sync_failing and payer.sync_failures_in_a_row == 0


def test_counts_alone_flag_a_payer_that_mostly_fails():
    """A writer that only bumps the counters (no streak) still gets payers flagged."""
    mostly_failing = _payer("bad", sync_success_count=1, sync_failure_count=4)
    fine = _payer("good", sync_success_count=9, sync_failure_count=4)
    never_failed = _payer("clean", sync_success_count=3)

    flagged = set(Payer.objects.filter(Payer.sync_failing_q()).values_list("slug", flat=True))

    assert flagged == {"bad"}
    assert [p.sync_failing for p in (mostly_failing, fine, never_failed)] == [True, False, False]
    assert never_failed.last_successful_sync_at == never_failed.last_sync_at


def _plan_line(page: str, name: str) -> str:
    match = re.search(rf"Choose {re.escape(name)}</button>(.*?)</li>", page, re.S)
    assert match, name
    return " ".join(match.group(1).split())


def test_picker_shows_sync_health_beside_discovery_health(sandbox_payers, live_server):
    payer = Payer.objects.get(slug="lakeshore-health")
    Payer.objects.filter(pk=payer.pk).update(last_discovery_ok=True)
    _record(payer, True, True, True, False)

    html = render_to_string(
        "payers/_picker.html",
        {"query": "lakeshore", "results": search_payers("lakeshore"), "select_action": "/x"},
    )
    line = _plan_line(html, payer.name)
    assert "sign-in reachable" in line and "75% of syncs succeed" in line
    assert "last successful sync" in line and "failing" not in line

    _record(payer, False, False)
    page = requests.get(f"{live_server.url}/payers/", params={"q": "lakeshore"}, timeout=10)
    assert "recent connections to this plan have been failing" in page.text
    assert "50% of syncs succeed" in page.text


def test_admin_flags_payers_whose_syncs_keep_failing(admin_client):
    payer = _record(_payer("flaky-plan"), *[False] * SYNC_FAILURES_FLAGGED)
    _record(_payer("steady-plan"), True)

    listing = admin_client.get("/admin/payers/payer/").content.decode()
    failing = admin_client.get("/admin/payers/payer/", {"syncs": "failing"}).content.decode()

    assert f"Syncs keep failing for: {payer.name}" in listing
    assert "syncs failing" in listing and "100% ok (1/0)" in listing
    assert "Flaky-Plan" in failing and "Steady-Plan" not in failing
