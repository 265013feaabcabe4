"""A purge racing a running sync leaves nothing behind.

Real worker subprocesses (one busy syncing, one free to purge) and the slow
sandbox payer (150 ms per response, small pages, 429s and 503s): the app
revokes at different points of the sync, in a loop; each time, once the sync
has stopped, nothing of the consent is cached and `verify_purged` is clean.
"""

from __future__ import annotations

import time

import requests

from config.celery import app as celery_app
from consent.models import Consent
from etl.models import SyncJob
from fhircache import repository
from payers.models import Payer
from tests.consent.conftest import query_of
from tests.consent.journey import start
from tests.consent.purge_helpers import sandbox_login, verify
from tests.consent.test_journey import click_through
from tests.services import wait_until

SLOW_PAYER = "prairie-medicaid"
# Seconds between the sync starting to write and the revocation: none, early, later.
REVOKE_AFTER = (None, 0.0, 0.7, 2.0)
FINISHED = {SyncJob.State.SUCCEEDED, SyncJob.State.PARTIAL, SyncJob.State.FAILED, "cancelled"}


def _connect(live_server, client, payer, login) -> tuple[Consent, dict]:
    started = start(live_server, client)
    back = click_through(started.browser, started.browser.get(started.flow_url), payer, login)
    token = requests.post(
        f"{live_server.url}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(back)["code"],
            "redirect_uri": started.params["redirect_uri"],
            "code_verifier": started.verifier,
        },
        auth=client.auth(),
        timeout=10,
    ).json()
    return Consent.objects.get(pk=token["consent_id"]), token


def _sync_states(consent: Consent) -> set[str]:
    return set(SyncJob.objects.filter(consent=consent).values_list("state", flat=True))


def test_purge_racing_a_running_sync_leaves_nothing(
    transactional_db, live_server, make_client, sandbox_payers, start_worker
):
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)
    start_worker()  # the sync runs here ...
    start_worker()  # ... while this one purges
    payer = Payer.objects.get(slug=SLOW_PAYER)
    login = sandbox_login(SLOW_PAYER)
    client = make_client()
    interrupted = 0
    for delay in REVOKE_AFTER:
        consent, token = _connect(live_server, client, payer, login)
        if delay is not None:
            wait_until(lambda c=consent: repository.counts(c), 60, what="the sync writing")
            time.sleep(delay)
        revoked = requests.post(
            f"{live_server.url}/oauth/revoke",
            data={"token": token["access_token"]},
            auth=client.auth(),
            timeout=10,
        )
        assert revoked.status_code == 200
        wait_until(
            lambda c=consent: _sync_states(c) and _sync_states(c) <= FINISHED,
            120,
            what="the sync to stop",
        )
        wait_until(
            lambda c=consent: Consent.objects.get(pk=c.pk).data_state == "purged",
            60,
            what="the purge",
        )
        time.sleep(0.5)  # anything still in flight would land now
        assert repository.counts(consent) == {}, delay
        code, report = verify(consent, "")
        assert code == 0, (delay, report)
        interrupted += SyncJob.objects.filter(
            consent=consent, state="cancelled", pages__gt=0
        ).count()
    # The revocations did land in the middle of running syncs, not only before or after.
    assert interrupted >= 1
