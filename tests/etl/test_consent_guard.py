"""The consent-state guard in `repository.save_page`: a sync writes nothing for a closed consent."""

from __future__ import annotations

import orjson
import pytest

from consent.models import Consent
from fhircache import repository
from fhircache.loader import load_resources
from tests.fhircache.conftest import source_for
from tests.services import wait_until


def _page(*ids: str) -> bytes:
    entries = [{"resource": {"resourceType": "Patient", "id": i}} for i in ids]
    return orjson.dumps({"resourceType": "Bundle", "type": "searchset", "entry": entries})


@pytest.mark.parametrize(
    ("status", "data_state"),
    [
        (Consent.Status.PENDING, Consent.DataState.NONE),
        (Consent.Status.REVOKED, Consent.DataState.READY),
        (Consent.Status.EXPIRED, Consent.DataState.READY),
        (Consent.Status.ACTIVE, Consent.DataState.PURGING),
        (Consent.Status.ACTIVE, Consent.DataState.PURGED),
    ],
)
def test_a_guarded_load_into_a_closed_consent_writes_nothing(consent, status, data_state):
    Consent.objects.filter(pk=consent.pk).update(status=status, data_state=data_state)
    with pytest.raises(repository.ConsentClosed):
        load_resources(consent, [_page("a", "b")], source=source_for(), guard=True)
    assert repository.counts(consent) == {}


@pytest.mark.parametrize("status", [Consent.Status.ACTIVE, Consent.Status.REAUTH_REQUIRED])
def test_a_guarded_load_into_an_open_consent_writes(consent, status):
    Consent.objects.filter(pk=consent.pk).update(status=status, data_state="syncing")
    result = load_resources(consent, [_page("a", "b")], source=source_for(), guard=True)
    assert result.created == 2 and repository.counts(consent) == {"Patient": 2}


def test_direct_loads_are_not_guarded(consent):
    assert consent.status == Consent.Status.PENDING
    assert load_resources(consent, [_page("a")], source=source_for()).created == 1


def test_pages_after_a_revocation_are_refused(consent):
    """The first page lands; the consent is revoked; the next page is refused."""
    Consent.objects.filter(pk=consent.pk).update(status=Consent.Status.ACTIVE)

    def pages():
        yield _page("before")
        # pages may be written on the loader's writer thread: revoke once it landed
        wait_until(lambda: repository.read(consent, "Patient", "before"), 30, interval=0.02)
        Consent.objects.filter(pk=consent.pk).update(status=Consent.Status.REVOKED)
        yield _page("after")

    with pytest.raises(repository.ConsentClosed):
        load_resources(consent, pages(), source=source_for(), guard=True)
    assert repository.read(consent, "Patient", "before") is not None
    assert repository.read(consent, "Patient", "after") is None
