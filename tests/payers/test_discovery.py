"""SMART discovery against real HTTP servers: sandbox payers and misbehaving ones."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from payers.discovery import discover, discovery_due, retry_delay
from payers.models import Payer
from payers.tasks import discover_payer
from tests.payers.misbehaving import Reply
from tests.services import wait_until

pytestmark = pytest.mark.django_db


def _payer(slug: str, base: str) -> Payer:
    return Payer.objects.create(slug=slug, name=slug.title(), fhir_base_url=base)


def test_sandbox_payer_discovery_uses_smart_configuration(sandbox_payers):
    payer = Payer.objects.get(slug="bluebird-medicare")

    assert discover(payer) is True

    payer.refresh_from_db()
    assert payer.last_discovery_ok is True and payer.last_discovery_error == ""
    assert payer.discovery_document["code_challenge_methods_supported"] == ["S256"]
    assert payer.token_url == payer.discovery_document["token_endpoint"]


def test_unreachable_payer_is_unhealthy_with_a_reason():
    payer = _payer("unreachable", "http://127.0.0.1:9/fhir")

    assert discover(payer) is False

    payer.refresh_from_db()
    assert payer.last_discovery_ok is False
    assert payer.last_discovery_error == (
        "smart-configuration: could not connect to http://127.0.0.1:9/fhir/.well-known/"
        "smart-configuration; CapabilityStatement: could not connect to "
        "http://127.0.0.1:9/fhir/metadata"
    )
    assert payer.discovery_failures == 1


def test_garbage_answers_mark_unhealthy_with_a_reason(misbehaving):
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(200, "<html>hello</html>"))
    misbehaving.script("/fhir/metadata", Reply(200, ["not", "a", "capability statement"]))
    payer = _payer("garbage", f"{misbehaving.url}/fhir")

    assert discover(payer) is False

    payer.refresh_from_db()
    assert "is not valid JSON" in payer.last_discovery_error
    assert "metadata is not a CapabilityStatement" in payer.last_discovery_error


def test_falls_back_to_capability_statement_oauth_uris(misbehaving):
    misbehaving.script("/r4/.well-known/smart-configuration", Reply(404, {"error": "nope"}))
    oauth_uris = {
        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
        "extension": [
            {"url": "authorize", "valueUri": f"{misbehaving.url}/auth"},
            {"url": "token", "valueUri": f"{misbehaving.url}/token"},
        ],
    }
    misbehaving.script(
        "/r4/metadata",
        Reply(
            200,
            {
                "resourceType": "CapabilityStatement",
                "rest": [{"mode": "server", "security": {"extension": [oauth_uris]}}],
            },
        ),
    )
    payer = _payer("fallback", f"{misbehaving.url}/r4")

    assert discover(payer) is True

    payer.refresh_from_db()
    assert payer.authorize_url == f"{misbehaving.url}/auth"
    assert payer.discovery_document["source"] == "CapabilityStatement oauth-uris"


def test_failing_payers_back_off_exponentially(settings):
    settings.DISCOVER_REAL_PAYERS = True
    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=15),
        timedelta(minutes=30),
        timedelta(hours=1),
    ]
    assert retry_delay(20) == retry_delay(0) == timedelta(hours=24)
    now = timezone.now()
    failing = _payer("failing", "http://127.0.0.1:9/fhir")
    Payer.objects.filter(pk=failing.pk).update(
        last_discovery_at=now - timedelta(minutes=20), discovery_failures=2, last_discovery_ok=False
    )
    fresh = _payer("fresh", "http://127.0.0.1:9/other")

    due = discovery_due(now)

    assert fresh.pk in due and failing.pk not in due
    assert failing.pk in discovery_due(now + timedelta(minutes=11))


def test_development_stack_discovers_only_sandbox_payers_on_schedule(settings):
    settings.DISCOVER_REAL_PAYERS = False
    real = _payer("real", "http://127.0.0.1:9/fhir")
    sandbox = _payer("sandboxed", "http://127.0.0.1:9/sbx")
    Payer.objects.filter(pk=sandbox.pk).update(is_sandbox=True)

    due = discovery_due()

    assert sandbox.pk in due and real.pk not in due


def test_discover_payers_command_reports_and_never_raises(misbehaving):
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(500, "boom"))
    misbehaving.script("/fhir/metadata", Reply(503, "down"))
    _payer("broken", f"{misbehaving.url}/fhir")
    out = StringIO()

    call_command("discover_payers", "--payer", "broken", stdout=out)

    assert "failed  broken: smart-configuration: HTTP 500" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_discovery_task_runs_on_a_real_worker(celery_worker):
    payer = _payer("via-worker", "http://127.0.0.1:9/fhir")

    discover_payer.delay(payer.pk)

    wait_until(
        lambda: Payer.objects.get(pk=payer.pk).last_discovery_ok is False,
        timeout=60,
        what="worker to record discovery",
    )


@pytest.mark.django_db(transaction=True)
def test_due_payers_are_discovered_concurrently_by_the_beat_task(misbehaving, celery_worker):
    misbehaving.script("/a/.well-known/smart-configuration", Reply(200, "nope", delay=1))
    misbehaving.script("/a/metadata", Reply(200, "nope"))
    payers = [_payer(f"slow-{i}", f"{misbehaving.url}/a") for i in range(8)]

    from payers.tasks import discover_due_payers

    discover_due_payers.delay()

    def all_recorded() -> bool:
        return all(Payer.objects.get(pk=p.pk).last_discovery_ok is False for p in payers)

    started = timezone.now()
    wait_until(all_recorded, timeout=60, what="beat task to discover every due payer")
    # 8 payers that each take a second: done in parallel, not one after another
    assert (timezone.now() - started).total_seconds() < 6
