"""The quickstart's own endpoints on bad input: a clear page or status, never a 500."""

from __future__ import annotations

import json

import requests


def test_bad_requests_to_the_quickstart(quickstart):
    url = quickstart.url
    browser = requests.Session()

    # No connection yet: the summary and raw JSON send nobody to the API.
    summary = browser.get(f"{url}/summary", allow_redirects=False, timeout=10)
    assert summary.status_code == 302 and summary.headers["Location"].endswith("/")
    assert browser.get(f"{url}/claims/x.json", timeout=10).status_code == 404

    # A callback this browser did not start, and one whose state is wrong.
    stray = browser.get(f"{url}/callback", params={"code": "c", "state": "s"}, timeout=10)
    assert stray.status_code == 400 and "not started here" in stray.text
    started = browser.get(f"{url}/connect", allow_redirects=False, timeout=10)
    assert (
        started.status_code == 302 and "code_challenge_method=S256" in started.headers["Location"]
    )
    wrong = browser.get(f"{url}/callback", params={"code": "c", "state": "s"}, timeout=10)
    assert wrong.status_code == 400 and "state did not match" in wrong.text
    # Used up: the pending launch is single use even when it failed.
    again = browser.get(f"{url}/callback", params={"code": "c", "state": "s"}, timeout=10)
    assert again.status_code == 400 and "not started here" in again.text

    # The patient said no: the app shows the error it was sent back.
    browser.get(f"{url}/connect", allow_redirects=False, timeout=10)
    denied = browser.get(f"{url}/callback", params={"error": "access_denied"}, timeout=10)
    assert denied.status_code == 400 and "access_denied" in denied.text

    # Webhooks that are unsigned, badly signed or not JSON are refused (and never trusted).
    body = json.dumps({"type": "sync.completed", "data": {"consent_id": "x"}})
    for headers in (
        {},
        {"webhook-id": "m", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        {"webhook-id": "m", "webhook-timestamp": "nope", "webhook-signature": "garbage"},
    ):
        refused = requests.post(f"{url}/webhooks", data=body, headers=headers, timeout=10)
        assert refused.status_code == 400, refused.text
    assert requests.post(f"{url}/webhooks", data=b"\xff\x00", timeout=10).status_code == 400
