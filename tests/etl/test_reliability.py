"""Workers die and Redis restarts; syncs still complete, once, with the right counts."""

from __future__ import annotations

from config.celery import app as celery_app
from consent.models import Consent
from etl import jobs
from etl.models import SyncJob
from etl.tasks import sync_job
from fhircache import repository
from payers.models import Payer
from tests.conftest import TEST_QUEUE
from tests.etl.sandbox_sync import connect, quarantined_by_type, served, wait_for_job
from tests.services import PrivateRedis, Worker, wait_until

SLOW = ("prairie-medicaid", "prairie-scot")  # 150 ms a call: a sync lasts seconds


def _running(consent: Consent, worker: Worker, pages: int = 1) -> SyncJob:
    """The consent's job once it runs with `pages` loaded; fails at once, with the
    job's error and the worker's log, when the job ends first."""

    def running() -> SyncJob | None:
        job = SyncJob.objects.filter(consent=consent).order_by("-created_at").first()
        if job is not None and job.state in SyncJob.DONE:
            raise AssertionError(
                f"job ended {job.state} before {pages} pages: {job.last_error}\n"
                f"{worker.output()[-4000:]}"
            )
        return job if job and job.state == SyncJob.State.RUNNING and job.pages >= pages else None

    try:
        return wait_until(running, 120, interval=0.2, what="a running sync job with pages loaded")
    except TimeoutError as exc:
        job = SyncJob.objects.filter(consent=consent).order_by("-created_at").first()
        state = f"{job.state} pages={job.pages} {job.last_error}" if job else "no job"
        raise TimeoutError(f"{exc}; job: {state}\n{worker.output()[-4000:]}") from None


def _assert_complete(consent: Consent, job: SyncJob) -> None:
    assert job.state == SyncJob.State.SUCCEEDED, job.last_error
    expected = served(*SLOW)
    stored, quarantined = repository.counts(consent), quarantined_by_type(consent)
    for rtype, n in expected.items():
        assert stored.get(rtype, 0) + quarantined.get(rtype, 0) == n, rtype
    assert SyncJob.objects.filter(consent=consent).count() == 1


def test_a_sync_whose_worker_was_killed_completes_on_another_worker(
    live_server, make_client, sandbox_payers, process_env, start_worker, settings
):
    settings.ETL_STALE_AFTER_S = 3
    env = {"ETL_HEARTBEAT_S": "1"}
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(TEST_QUEUE)
    first = start_worker(**env)
    consent = connect(
        live_server, make_client(public=True), Payer.objects.get(slug=SLOW[0]), SLOW[1]
    )
    job = _running(consent, first, pages=2)
    first.kill()  # SIGKILL: no cleanup, no ack, the heartbeat stops

    wait_until(lambda: jobs.reap_stale() == [job.pk], 30, interval=0.5, what="the reaper")
    start_worker(**env)
    job = wait_for_job(consent, timeout=180)
    _assert_complete(consent, job)
    assert job.attempts == 2


def test_a_sync_survives_a_redis_restart(
    live_server, make_client, sandbox_payers, process_env, start_worker
):
    private = PrivateRedis().start()
    try:
        # A 1 s heartbeat: the sync (~5 s) is seen running before it ends.
        worker = start_worker(
            REDIS_URL=private.url, CELERY_BROKER_URL=private.broker_url, ETL_HEARTBEAT_S="1"
        )
        consent = connect(
            live_server, make_client(public=True), Payer.objects.get(slug=SLOW[0]), SLOW[1]
        )
        job = jobs.request_sync(consent, reason="test")
        with celery_app.connection_for_write(url=private.broker_url) as conn:
            sync_job.apply_async((job.pk,), connection=conn, queue=TEST_QUEUE)
        _running(consent, worker, pages=2)
        private.stop()
        private.start()
        job = wait_for_job(consent, timeout=180)
        _assert_complete(consent, job)
    finally:
        private.stop()
