"""What operators and apps see of syncs: the API, the command, the admin, webhooks."""

from __future__ import annotations

from io import StringIO

import orjson
import pytest
import requests
from django.core.management import CommandError, call_command

from consent.models import Consent, WebhookDelivery
from etl.models import SyncJob
from tests.consent.test_token import app_token
from tests.etl.payer_double import bundle, eob, make_double
from tests.payers.misbehaving import Reply

pytestmark = pytest.mark.django_db(transaction=True)
EOB = "ExplanationOfBenefit"


def _synced(misbehaving, *replies: Reply):
    double = make_double(misbehaving)
    double.script(EOB, *(replies or (Reply(200, bundle(eob("e1"), eob("e2"))),)))
    out = StringIO()
    try:
        call_command("sync_consent", str(double.consent.pk), stdout=out)
    except SystemExit as exc:
        assert exc.code == 1
    return double, out.getvalue()


def test_sync_consent_runs_in_the_foreground_with_progress(misbehaving):
    double, out = _synced(misbehaving)
    assert f"Syncing consent {double.consent.pk} from Misbehaving Health" in out
    assert f"{EOB} page 1: {EOB} 2  [" in out
    assert "succeeded: 3 resources" in out
    job = SyncJob.objects.get(consent=double.consent)
    assert job.state == SyncJob.State.SUCCEEDED and job.reason == "command"


def test_sync_consent_exits_1_with_the_error(misbehaving):
    _, out = _synced(misbehaving, Reply(500, "down"))
    assert "partial:" in out and f"error: {EOB} page 1: Misbehaving Health answered 500" in out


@pytest.mark.parametrize("bad", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_sync_consent_refuses_unknown_consents(bad):
    with pytest.raises(CommandError, match="no consent"):
        call_command("sync_consent", bad)


def test_consent_api_shows_the_last_sync(live_server, misbehaving, make_client):
    client, outsider = make_client(), make_client()
    double = make_double(misbehaving)
    Consent.objects.filter(pk=double.consent.pk).update(app=client.app, external_id="user-7")
    double.script(EOB, Reply(200, bundle(eob("e1"), eob("e2"))))
    call_command("sync_consent", str(double.consent.pk), stdout=StringIO())
    url = f"{live_server.url}/api/consents/{double.consent.pk}"

    def get(token: str | None) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(url, headers=headers, timeout=10)

    body = get(app_token(live_server, client)).json()
    assert body["status"] == "active" and body["data_state"] == "ready"
    assert body["external_id"] == "user-7"
    assert body["last_sync"]["state"] == "succeeded" and body["last_sync"]["finished_at"]
    assert body["last_sync"]["counts"] == {EOB: 2, "Patient": 1}
    assert get(app_token(live_server, outsider)).status_code == 404
    assert get(None).status_code == 401
    assert requests.get(f"{live_server.url}/api/consents/nope", timeout=10).status_code == 404


def test_sync_webhooks_carry_the_job_and_counts(misbehaving):
    double = make_double(misbehaving)
    app = double.consent.app
    app.webhook_url = "http://127.0.0.1:9/hook"
    app.set_new_webhook_secret()
    app.save()
    double.script(EOB, Reply(200, bundle(eob("e1"))))
    call_command("sync_consent", str(double.consent.pk), stdout=StringIO())
    double.script(EOB, Reply(404, {"resourceType": "OperationOutcome"}))
    double.script(f"Patient/{double.consent.patient_id}", Reply(500, "down"))
    with pytest.raises(SystemExit):
        call_command("sync_consent", str(double.consent.pk), stdout=StringIO())

    sent = {d.event_type: orjson.loads(d.body) for d in WebhookDelivery.objects.filter(app=app)}
    completed, failed = sent["sync.completed"]["data"], sent["sync.failed"]["data"]
    first, second = SyncJob.objects.filter(consent=double.consent).order_by("created_at")
    assert completed["job_id"] == first.pk and completed["counts"] == {EOB: 1, "Patient": 1}
    assert completed["consent_id"] == str(double.consent.pk) and completed["state"] == "succeeded"
    assert failed["job_id"] == second.pk and "answered 500" in failed["error"]


def test_admin_lists_filters_and_acts_on_jobs(misbehaving, admin_client):
    double, _ = _synced(misbehaving)
    job = SyncJob.objects.get(consent=double.consent)
    listing = admin_client.get("/admin/etl/syncjob/", {"state": "succeeded"})
    assert listing.status_code == 200 and f">{job.pk}<" in listing.content.decode()
    for query in ({"payer__id__exact": double.payer.pk}, {"app__id__exact": double.consent.app_id}):
        assert admin_client.get("/admin/etl/syncjob/", query).status_code == 200
    page = admin_client.get(f"/admin/etl/syncjob/{job.pk}/change/").content.decode()
    assert "<th>fetched</th>" in page and f"<td>{EOB}</td>" in page

    action = {"_selected_action": [job.pk], "action": "resync_now"}
    assert admin_client.post("/admin/etl/syncjob/", action).status_code == 302
    resync = SyncJob.objects.filter(consent=double.consent).exclude(pk=job.pk).get()
    assert resync.state == SyncJob.State.QUEUED and resync.reason == "admin"
    action = {"_selected_action": [resync.pk], "action": "cancel_jobs"}
    assert admin_client.post("/admin/etl/syncjob/", action).status_code == 302
    resync.refresh_from_db()
    assert resync.state == SyncJob.State.CANCELLED
