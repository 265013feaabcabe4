"""payers.http against garbage: Retry-After values, redirects that would leak, broken JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payers.http import (
    RETRY_AFTER_CEILING_S,
    ForeignOriginRefused,
    PayerHTTPError,
    PayerRateLimited,
    json_body,
    parse_retry_after,
    payer_session,
)
from payers.models import Payer
from tests.payers.misbehaving import Reply


def _payer(url: str) -> Payer:
    return Payer(slug="p", name="P", fhir_base_url=f"{url}/fhir", token_url=f"{url}/token")


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "-1",
        "1.5",
        "0x10",
        "\u00b2",  # superscript two: str.isdigit() but not int()
        "\u0661\u0662",  # Arabic-Indic digits
        "1e3",
        "Thu, 32 Jan 2026 00:00:00 GMT",
        "Thu, 01 Jan 2026 25:00:00 GMT",
        "Fri, 01 Jan 99999 00:00:00 GMT",
        "tomorrow",
        "\x00",
    ],
)
def test_garbage_retry_after_is_ignored(value):
    assert parse_retry_after(value) is None


def test_absurd_retry_after_is_capped():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("9" * 5000) == RETRY_AFTER_CEILING_S
    assert parse_retry_after("99999999999") == RETRY_AFTER_CEILING_S
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=now) == RETRY_AFTER_CEILING_S
    assert parse_retry_after(" 30 ") == 30.0


def test_429_with_garbage_retry_after_backs_off_instead_of_crashing(misbehaving):
    misbehaving.script(
        "/fhir/Patient",
        Reply(429, headers={"Retry-After": "\u00b2"}),
        Reply(200, {"resourceType": "Bundle"}),
    )
    waits: list[float] = []

    response = payer_session(_payer(misbehaving.url), sleep=waits.append).get(
        f"{misbehaving.url}/fhir/Patient"
    )

    assert response.status_code == 200
    # one wait of the first backoff step (0.5 s, jittered down to no less than half),
    # as if no Retry-After was sent
    assert len(waits) == 1 and 0.25 <= waits[0] <= 0.5


def test_absurd_retry_after_goes_back_to_the_caller_capped(misbehaving):
    misbehaving.script("/fhir/Patient", Reply(503, headers={"Retry-After": "9" * 5000}))

    with pytest.raises(PayerRateLimited) as caught:
        payer_session(_payer(misbehaving.url)).get(f"{misbehaving.url}/fhir/Patient")

    assert caught.value.retry_after == RETRY_AFTER_CEILING_S


@pytest.mark.parametrize("status", [307, 308])
def test_token_request_body_never_follows_a_redirect_to_a_foreign_origin(
    misbehaving, other_server, status
):
    other_server.script("/steal", Reply(200, {"access_token": "x"}))
    misbehaving.script("/token", Reply(status, headers={"Location": f"{other_server.url}/steal"}))
    session = payer_session(_payer(misbehaving.url))

    with pytest.raises(ForeignOriginRefused, match="not one of the payer's own origins"):
        session.post(
            f"{misbehaving.url}/token",
            data={"grant_type": "refresh_token", "refresh_token": "r", "client_secret": "s"},
        )

    assert other_server.requests == []


def test_body_follows_a_redirect_within_the_payer(misbehaving):
    misbehaving.script("/token", Reply(307, headers={"Location": "/token2"}))
    misbehaving.script("/token2", Reply(200, {"access_token": "x"}))
    session = payer_session(_payer(misbehaving.url))

    response = session.post(f"{misbehaving.url}/token", data={"code": "c"})

    assert json_body(response) == {"access_token": "x"}
    assert misbehaving.hits("/token2")[0].body == b"code=c"


def test_session_token_is_dropped_on_redirect_to_another_port(misbehaving, other_server):
    # Same host, another port: another origin (RFC 6454); the GET goes on, bare.
    other_server.script("/fhir/Binary/1", Reply(200, b"data"))
    misbehaving.script(
        "/fhir/Binary/1", Reply(301, headers={"Location": f"{other_server.url}/fhir/Binary/1"})
    )
    session = payer_session(_payer(misbehaving.url))
    session.headers["Authorization"] = "Bearer payer-token"

    assert session.get(f"{misbehaving.url}/fhir/Binary/1").content == b"data"

    assert "Authorization" not in other_server.hits("/fhir/Binary/1")[0].headers


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"resourceType": "Bundle", "entry": [', "application/fhir+json", "line 1 column 38"),
        (b"", "application/json", "the body is empty"),
        (b"\xff\xfe\x00garbage", "application/json", "not valid JSON (application/json"),
        (b"<html>Maintenance</html>", "text/html", "not valid JSON (text/html"),
    ],
)
def test_broken_json_is_a_readable_payer_error(misbehaving, body, content_type, expected):
    misbehaving.script("/fhir/Patient", Reply(200, body, headers={"Content-Type": content_type}))
    session = payer_session(_payer(misbehaving.url))

    with pytest.raises(PayerHTTPError) as caught:
        session.get_json(f"{misbehaving.url}/fhir/Patient?name=secret")

    assert expected in caught.value.reason
    assert f"from {misbehaving.url}/fhir/Patient " in caught.value.reason
    assert "secret" not in caught.value.reason and "Maintenance" not in caught.value.reason
