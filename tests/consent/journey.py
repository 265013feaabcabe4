"""Helpers that walk the patient pages with a `requests.Session` as the browser."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from tests.consent.conftest import Client, authorize_params, pkce_pair
from tests.forms import find_form


@dataclass
class Started:
    browser: requests.Session
    flow_url: str
    params: dict
    verifier: str

    @property
    def flow_id(self) -> str:
        return self.flow_url.rstrip("/").rsplit("/", 1)[-1]

    def csrf_token(self) -> str:
        """The CSRF token from the cancel form of the first page."""
        page = self.browser.get(self.flow_url, timeout=10)
        return find_form(page, "Cancel and return to " + page_app_name(page)).fields[
            "csrfmiddlewaretoken"
        ]


def page_app_name(page: requests.Response) -> str:
    text = page.text
    start = text.index("Cancel and return to ") + len("Cancel and return to ")
    return text[start : text.index("<", start)].strip()


def start(live_server, client: Client, **overrides) -> Started:
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, **overrides)
    browser = requests.Session()
    response = browser.get(
        f"{live_server.url}/oauth/authorize", params=params, allow_redirects=False, timeout=10
    )
    assert response.status_code == 302, response.text
    return Started(browser, live_server.url + response.headers["Location"], params, verifier)


def choose(live_server, started: Started, payer_slug: str, *, csrf: bool = True):
    data = {"payer": payer_slug}
    if csrf:
        data["csrfmiddlewaretoken"] = started.csrf_token()
    return started.browser.post(
        f"{started.flow_url}payer", data=data, allow_redirects=False, timeout=10
    )
