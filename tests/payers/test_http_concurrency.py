"""`Payer.max_concurrency`: a Redis semaphore in payers.http, over real concurrent HTTP."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from payers import limits
from payers.http import PayerBusy, payer_session
from payers.limits import ConcurrencyLimiter
from payers.models import Payer
from tests.payers.misbehaving import Reply
from tests.services import wait_until

pytestmark = pytest.mark.django_db


def _payer(url: str, max_concurrency: int | None) -> Payer:
    return Payer.objects.create(
        slug=f"conc-{uuid.uuid4().hex[:8]}",
        name="Concurrency",
        fhir_base_url=f"{url}/fhir",
        max_concurrency=max_concurrency,
    )


def _slots(payer: Payer, lease_seconds: float = 60) -> ConcurrencyLimiter:
    """The payer's semaphore as another worker process would see it."""
    return ConcurrencyLimiter(f"{payer.pk}:{payer.slug}", payer.max_concurrency, lease_seconds)


def _burst(url: str, payer: Payer, n: int) -> list[int]:
    """n requests at once, each from its own session (as n workers would send them)."""

    def one(_: int) -> int:
        return payer_session(payer).get(f"{url}/fhir/EOB").status_code

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(one, range(n)))


def test_requests_beyond_max_concurrency_wait_for_a_slot(misbehaving):
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}, delay=0.3))
    payer = _payer(misbehaving.url, max_concurrency=2)

    statuses = _burst(misbehaving.url, payer, 6)

    assert statuses == [200] * 6
    assert misbehaving.max_in_flight == 2


def test_without_max_concurrency_requests_run_in_parallel(misbehaving):
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}, delay=0.3))
    payer = _payer(misbehaving.url, max_concurrency=None)

    _burst(misbehaving.url, payer, 4)

    assert misbehaving.max_in_flight == 4


def test_slot_of_a_killed_worker_expires_with_its_lease(misbehaving):
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}))
    payer = _payer(misbehaving.url, max_concurrency=1)
    # A worker took the only slot and died: it will never release it.
    assert _slots(payer, lease_seconds=1.5).try_acquire()

    with pytest.raises(PayerBusy):
        payer_session(payer, max_retry_after=0.3).get(f"{misbehaving.url}/fhir/EOB")
    assert misbehaving.requests == []

    response = payer_session(payer, max_retry_after=3).get(f"{misbehaving.url}/fhir/EOB")
    assert response.status_code == 200


def test_slots_are_released_after_errors_and_redirects(misbehaving):
    misbehaving.script("/fhir/moved", Reply(302, headers={"Location": "/fhir/EOB"}))
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}))
    misbehaving.script("/fhir/broken", Reply(500, "oops"))
    payer = _payer(misbehaving.url, max_concurrency=1)
    session = payer_session(payer, max_retry_after=1, max_retries=1, sleep=lambda s: None)

    # The redirect hop runs under the slot of its first request (no self-deadlock).
    assert session.get(f"{misbehaving.url}/fhir/moved").status_code == 200
    assert session.get(f"{misbehaving.url}/fhir/broken").status_code == 500
    assert _slots(payer).try_acquire()  # nothing was left holding the slot


def _held(payer: Payer) -> int:
    return limits._redis().zcard(_slots(payer).key)


def test_a_slot_kept_between_requests_is_released_at_the_end(misbehaving):
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}))
    payer = _payer(misbehaving.url, max_concurrency=1)
    session = payer_session(payer)

    with session.keeping_slot():
        for _ in range(3):
            assert session.get(f"{misbehaving.url}/fhir/EOB").status_code == 200
            assert _held(payer) == 1  # kept between requests
    assert _held(payer) == 0
    session.get(f"{misbehaving.url}/fhir/EOB")
    assert _held(payer) == 0  # outside the block, released after each request


def test_a_kept_slot_is_given_up_to_a_waiting_worker(misbehaving):
    misbehaving.script("/fhir/EOB", Reply(200, {"resourceType": "Bundle"}, delay=0.05))
    payer = _payer(misbehaving.url, max_concurrency=1)
    keeper, done = payer_session(payer), threading.Event()
    statuses: list[int] = []

    def chain() -> None:
        with keeper.keeping_slot():
            while not done.is_set():
                statuses.append(keeper.get(f"{misbehaving.url}/fhir/EOB").status_code)

    thread = threading.Thread(target=chain)
    thread.start()
    try:
        wait_until(lambda: statuses, timeout=5)
        # another worker's request gets the payer's only slot while the chain goes on
        other = payer_session(payer, max_retry_after=5).get(f"{misbehaving.url}/fhir/EOB")
        assert other.status_code == 200
        count = len(statuses)
        wait_until(lambda: len(statuses) > count, timeout=5)  # the chain took it back
    finally:
        done.set()
        thread.join()
    assert set(statuses) == {200}
    assert misbehaving.max_in_flight == 1
    assert _held(payer) == 0
