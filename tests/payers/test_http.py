"""payers.http against a real local server that misbehaves on purpose."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from payers.http import (
    ForeignOriginRefused,
    PayerHTTPError,
    PayerRateLimited,
    PayerSession,
    parse_retry_after,
    payer_session,
)
from payers.models import Payer
from tests.payers.misbehaving import Reply


def _payer(url: str) -> Payer:
    return Payer(slug="p", name="P", fhir_base_url=f"{url}/fhir", token_url=f"{url}/token")


class SleepLog:
    """Really sleeps, and remembers how long it was asked to."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(seconds)


def test_429_with_retry_after_seconds_is_waited_out(misbehaving):
    misbehaving.script(
        "/fhir/Patient",
        Reply(429, {"error": "slow down"}, headers={"Retry-After": "1"}),
        Reply(200, {"resourceType": "Bundle"}),
    )
    sleep = SleepLog()
    session = payer_session(_payer(misbehaving.url), sleep=sleep)

    response = session.get(f"{misbehaving.url}/fhir/Patient")

    assert response.status_code == 200
    assert sleep.waits == [1.0]
    assert len(misbehaving.hits("/fhir/Patient")) == 2


def test_429_with_retry_after_http_date_is_waited_out(misbehaving):
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    misbehaving.script(
        "/fhir/Coverage",
        Reply(429, headers={"Retry-After": when}),
        Reply(200, {"resourceType": "Bundle"}),
    )
    sleep = SleepLog()

    response = payer_session(_payer(misbehaving.url), sleep=sleep).get(
        f"{misbehaving.url}/fhir/Coverage"
    )

    assert response.status_code == 200
    assert len(sleep.waits) == 1 and 0 < sleep.waits[0] <= 2.0


def test_retry_after_beyond_cap_raises_rate_limited_with_the_wait(misbehaving):
    misbehaving.script("/fhir/Patient", Reply(429, headers={"Retry-After": "120"}))

    with pytest.raises(PayerRateLimited) as caught:
        payer_session(_payer(misbehaving.url)).get(f"{misbehaving.url}/fhir/Patient")

    assert caught.value.retry_after == 120
    assert "retry after 120s" in caught.value.reason
    assert len(misbehaving.hits("/fhir/Patient")) == 1


def test_5xx_then_success_is_retried_with_backoff(misbehaving):
    misbehaving.script(
        "/fhir/ExplanationOfBenefit",
        Reply(502, "bad gateway"),
        Reply(500, "oops"),
        Reply(200, {"resourceType": "Bundle", "total": 0}),
    )
    sleep = SleepLog()

    response = payer_session(_payer(misbehaving.url), sleep=sleep).get(
        f"{misbehaving.url}/fhir/ExplanationOfBenefit?patient=1"
    )

    assert response.status_code == 200
    assert response.json()["total"] == 0
    # exponential steps of 0.5 s and 1 s, each jittered down to no less than half
    assert len(sleep.waits) == 2
    assert 0.25 <= sleep.waits[0] <= 0.5 and 0.5 <= sleep.waits[1] <= 1.0


def test_5xx_is_bounded_and_not_retried_for_post(misbehaving):
    misbehaving.script("/fhir/Patient", Reply(503, "down"))
    misbehaving.script("/token", Reply(500, {"error": "server_error"}))
    session = payer_session(_payer(misbehaving.url), sleep=lambda s: None)

    assert session.get(f"{misbehaving.url}/fhir/Patient").status_code == 503
    assert len(misbehaving.hits("/fhir/Patient")) == 4  # 1 + MAX_RETRIES
    assert session.post(f"{misbehaving.url}/token", data={"a": "b"}).status_code == 500
    assert len(misbehaving.hits("/token")) == 1


def test_timeout_becomes_readable_error_after_retries(misbehaving):
    misbehaving.script("/fhir/metadata", Reply(200, {"ok": True}, delay=1.5))
    session = payer_session(
        _payer(misbehaving.url), timeout=(1, 0.3), max_retries=1, sleep=lambda s: None
    )

    with pytest.raises(PayerHTTPError) as caught:
        session.get(f"{misbehaving.url}/fhir/metadata?secret=1")

    assert caught.value.reason == f"timed out calling {misbehaving.url}/fhir/metadata"
    assert len(misbehaving.hits("/fhir/metadata")) == 2


def test_unreachable_origin_is_a_readable_error():
    session = payer_session(_payer("http://127.0.0.1:9"), max_retries=0)

    with pytest.raises(PayerHTTPError, match=r"could not connect to http://127\.0\.0\.1:9/fhir"):
        session.get("http://127.0.0.1:9/fhir/metadata")


def test_token_is_never_sent_to_a_foreign_origin(misbehaving, other_server):
    other_server.script("/steal", Reply(200, {"stolen": True}))
    misbehaving.script("/fhir/Patient/1", Reply(200, {"resourceType": "Patient"}))
    session = payer_session(_payer(misbehaving.url))
    session.headers["Authorization"] = "Bearer payer-token"

    assert session.get(f"{misbehaving.url}/fhir/Patient/1").status_code == 200
    with pytest.raises(ForeignOriginRefused, match="not one of the payer's own origins"):
        session.get(f"{other_server.url}/steal")

    assert other_server.requests == []
    assert misbehaving.hits("/fhir/Patient/1")[0].headers["Authorization"] == "Bearer payer-token"


def test_redirect_to_foreign_origin_never_carries_the_token(misbehaving, other_server):
    other_server.script("/landing", Reply(200, {"ok": True}))
    misbehaving.script(
        "/fhir/Binary/1", Reply(302, headers={"Location": f"{other_server.url}/landing"})
    )
    session = payer_session(_payer(misbehaving.url))

    session.get(f"{misbehaving.url}/fhir/Binary/1", headers={"Authorization": "Bearer t"})

    # requests strips Authorization on a cross-host redirect; our check backs it up.
    assert "Authorization" not in other_server.hits("/landing")[0].headers


def test_user_agent_and_get_json_reasons(misbehaving):
    misbehaving.script("/fhir/metadata", Reply(200, "<html>not json</html>"))
    misbehaving.script("/fhir/gone", Reply(404, {"error": "nope"}))
    session = payer_session(_payer(misbehaving.url))

    with pytest.raises(PayerHTTPError, match="is not valid JSON"):
        session.get_json(f"{misbehaving.url}/fhir/metadata")
    with pytest.raises(PayerHTTPError, match="HTTP 404 from"):
        session.get_json(f"{misbehaving.url}/fhir/gone")
    assert misbehaving.requests[0].headers["User-Agent"].startswith("Payerbridge/")


def test_parse_retry_after_forms():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.django_db
def test_our_rate_limit_per_payer_is_shared_and_enforced(misbehaving):
    import uuid

    misbehaving.script("/fhir/Patient", Reply(200, {"resourceType": "Bundle"}))
    payer = Payer.objects.create(
        slug=f"limited-{uuid.uuid4().hex[:8]}",
        name="Limited",
        fhir_base_url=f"{misbehaving.url}/fhir",
        rate_limit_per_minute=2,
    )
    if time.time() % 60 > 55:  # keep all calls inside one clock minute
        time.sleep(60 - time.time() % 60 + 0.1)
    # two workers' sessions; max_retry_after=0: never sleep through our own limit here
    first = payer_session(payer, max_retry_after=0)
    second = payer_session(payer, max_retry_after=0)

    assert first.get(f"{misbehaving.url}/fhir/Patient").status_code == 200
    assert second.get(f"{misbehaving.url}/fhir/Patient").status_code == 200
    with pytest.raises(PayerRateLimited) as caught:
        first.get(f"{misbehaving.url}/fhir/Patient")

    assert 1 <= caught.value.retry_after <= 60
    assert len(misbehaving.hits("/fhir/Patient")) == 2


def test_environment_settings_are_read_once_per_origin_and_netrc_never(monkeypatch, tmp_path):
    """Proxy and CA-bundle variables still apply; ~/.netrc cannot swap the bearer token."""
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine payer.example login someone password secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    session = PayerSession({"https://payer.example", "https://bypass.example"})

    merged = session.merge_environment_settings("https://payer.example/fhir", {}, None, None, None)
    assert merged["proxies"]["https"] == "http://proxy.internal:3128"
    assert merged["verify"] == "/etc/ssl/certs/ca-certificates.crt"
    bypass = session.merge_environment_settings("https://bypass.example/x", {}, None, None, None)
    assert "https" not in bypass["proxies"]
    assert (
        session.merge_environment_settings("https://payer.example/fhir", {}, None, False, None)[
            "verify"
        ]
        is False
    )  # an explicit choice wins

    monkeypatch.setenv("HTTPS_PROXY", "http://changed.internal:1")  # read once per origin
    again = session.merge_environment_settings("https://payer.example/p2", {}, None, None, None)
    assert again["proxies"]["https"] == "http://proxy.internal:3128"

    request = session.prepare_request(
        requests.Request(
            "GET", "https://payer.example/fhir/Patient", headers={"Authorization": "Bearer t"}
        )
    )
    assert request.headers["Authorization"] == "Bearer t"
