"""`manage.py add_payer` against live sandbox payers and a server that is not FHIR."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from payers.admin import PayerAdminForm
from payers.models import Payer
from tests.payers.misbehaving import Reply

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ")
# What SMART discovery can know; the sandbox seeding sets each of them by hand.
DISCOVERABLE = (
    "fhir_base_url",
    "authorize_url",
    "token_url",
    "revoke_url",
    "introspect_url",
    "supports_pkce",
    "supports_refresh",
    "token_endpoint_auth_method",
)


@pytest.mark.parametrize("slug", ["bluebird-medicare", "lakeshore-health", "prairie-medicaid"])
def test_add_payer_fills_what_the_sandbox_seeding_sets_by_hand(sandbox_payers, slug, monkeypatch):
    seeded = Payer.objects.get(slug=slug)
    expected = {f: getattr(seeded, f) for f in DISCOVERABLE}
    seeded.delete()  # rolled back after the test; the sandbox server keeps serving it
    monkeypatch.setattr("sys.stdin", StringIO("the-secret\n"))
    out = StringIO()

    call_command(
        "add_payer",
        "--fhir-base",
        expected["fhir_base_url"],
        "--client-id",
        "payerbridge-gateway",
        "--client-secret-stdin",
        stdout=out,
    )

    added = Payer.objects.get(fhir_base_url=expected["fhir_base_url"])
    assert {f: getattr(added, f) for f in DISCOVERABLE} == expected
    assert set(added.scopes.split()) == set(seeded.scopes.split())
    assert added.discovery_document["token_endpoint"] == expected["token_url"]
    assert added.name == seeded.name  # the CapabilityStatement's implementation.description
    assert added.client_id == "payerbridge-gateway" and added.client_secret == "the-secret"
    assert added.status == Payer.Status.NOT_CONNECTED and not added.is_selectable
    printed = out.getvalue()
    assert f"created payer {added.slug}" in printed
    assert f"token_url: {expected['token_url']}" in printed
    assert "the-secret" not in printed
    assert "status: set active" in printed and "client_id:" not in printed.split("still")[1]


def test_add_payer_updates_the_payer_that_has_the_base(sandbox_payers):
    payer = Payer.objects.get(slug="lakeshore-health")
    Payer.objects.filter(pk=payer.pk).update(revoke_url="", scopes="")
    out = StringIO()

    call_command("add_payer", "--fhir-base", payer.fhir_base_url + "/", stdout=out)

    payer.refresh_from_db()
    assert "updated payer lakeshore-health" in out.getvalue()
    assert payer.revoke_url.endswith("/revoke") and "patient/*.rs" in payer.scopes
    assert payer.client_id == "payerbridge-gateway"  # kept: not given
    assert Payer.objects.filter(fhir_base_url__startswith=payer.fhir_base_url).count() == 1


def test_a_base_that_is_not_a_fhir_server_is_refused_in_one_line(misbehaving):
    misbehaving.script("/fhir/.well-known/smart-configuration", Reply(404, "<html>no</html>"))
    misbehaving.script("/fhir/metadata", Reply(200, {"hello": "world"}))

    with pytest.raises(CommandError) as refused:
        call_command("add_payer", "--fhir-base", f"{misbehaving.url}/fhir", stdout=StringIO())

    assert "\n" not in str(refused.value)
    assert "is not a SMART FHIR server" in str(refused.value)
    assert not Payer.objects.filter(fhir_base_url__startswith=misbehaving.url).exists()


def test_refusal_exits_1_with_one_line_on_stderr(process_env):
    done = subprocess.run(
        [sys.executable, "manage.py", "add_payer", "--fhir-base", "http://127.0.0.1:9/fhir"],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    # Log records (timestamped) are the log's business; the command's own output is one line.
    lines = [x for x in done.stderr.splitlines() if x and not LOG_RECORD.match(x)]
    assert len(lines) == 1, done.stderr
    line = lines[0]
    assert line.startswith("CommandError: http://127.0.0.1:9/fhir is not a SMART FHIR server")


def test_admin_add_from_base_url_form(sandbox_payers, admin_client, misbehaving):
    seeded = Payer.objects.get(slug="bluebird-medicare")
    base, token_url = seeded.fhir_base_url, seeded.token_url
    seeded.delete()
    listing = admin_client.get("/admin/payers/payer/").content.decode()
    assert "Add from FHIR base URL" in listing

    page = admin_client.post(
        "/admin/payers/payer/add-from-base/",
        {"fhir_base": base, "client_id": "ours", "client_secret": "s3cret", "name": "Bluebird"},
        follow=True,
    )

    added = Payer.objects.get(fhir_base_url=base)
    assert (added.name, added.token_url, added.client_secret) == ("Bluebird", token_url, "s3cret")
    text = page.content.decode()
    assert "Created Bluebird" in text and "Still to set" in text and "s3cret" not in text

    misbehaving.script("/x/.well-known/smart-configuration", Reply(500, "down"))
    misbehaving.script("/x/metadata", Reply(500, "down"))
    refused = admin_client.post(
        "/admin/payers/payer/add-from-base/", {"fhir_base": f"{misbehaving.url}/x"}
    )
    assert refused.status_code == 200 and "is not a SMART FHIR server" in refused.content.decode()


def test_admin_verifies_an_unconfirmed_api(admin_client):
    payer = Payer.objects.create(slug="tenant", name="Tenant Plan", patient_access_unconfirmed=True)
    assert not payer.is_offered

    admin_client.post(
        "/admin/payers/payer/",
        {"action": "verify_patient_access", "_selected_action": [payer.pk]},
    )

    payer.refresh_from_db()
    assert payer.is_offered and payer.patient_access_verified_at is not None


def test_a_capability_statement_with_oauth_uris_is_enough(misbehaving):
    misbehaving.script("/r4/.well-known/smart-configuration", Reply(404, {"error": "none"}))
    uris = [
        {"url": name, "valueUri": f"{misbehaving.url}/oauth/{name}"}
        for name in ("authorize", "token", "revoke")
    ]
    statement = {
        "resourceType": "CapabilityStatement",
        "implementation": {"description": "Old Plan FHIR"},
        "rest": [
            {
                "mode": "server",
                "security": {
                    "extension": [
                        {
                            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                            "extension": uris,
                        }
                    ]
                },
            }
        ],
    }
    misbehaving.script("/r4/metadata", Reply(200, statement))
    out = StringIO()

    call_command("add_payer", "--fhir-base", f"{misbehaving.url}/r4", stdout=out)

    payer = Payer.objects.get(fhir_base_url=f"{misbehaving.url}/r4")
    assert payer.name == "Old Plan FHIR" and payer.slug == "old-plan-fhir"
    assert payer.revoke_url == f"{misbehaving.url}/oauth/revoke"
    assert payer.scopes == "launch/patient openid fhirUser patient/*.read"  # no refresh known
    assert "client_id: our client id" in out.getvalue()


def test_admin_will_not_activate_an_unverified_api():
    payer = Payer.objects.create(slug="tenant", name="Tenant Plan", patient_access_unconfirmed=True)
    data = {
        name: json.dumps(value) if isinstance(value, list | dict) else value
        for name, value in model_to_dict(payer).items()
        if value is not None
    }

    refused = PayerAdminForm({**data, "status": "active"}, instance=payer)
    assert not refused.is_valid() and "verify it first" in str(refused.errors["status"])

    verified = {**data, "status": "active", "patient_access_verified_at": "2026-12-01 05:00:00"}
    assert PayerAdminForm(verified, instance=payer).is_valid()
