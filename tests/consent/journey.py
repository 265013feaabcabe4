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


def allow_in_browser(page, payer_slug: str, login: dict) -> None:
    """Playwright: from our first consent page to "You are connected".

    Finds the plan in the picker, signs in at the sandbox payer, allows there
    and then on our review page.
    """
    page.get_by_role("link", name="Find your health plan").click()
    page.get_by_label("Find your health plan").fill(payer_slug.split("-")[0])
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator(
        f"form:has(input[name=payer][value='{payer_slug}']) button, "
        f"button[name=payer][value='{payer_slug}']"
    ).first.click()
    page.get_by_label("Username").fill(login["username"])
    page.get_by_label("Password").fill(login["password"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Allow").click()  # at the payer
    page.wait_for_url("**/review")
    page.get_by_role("button", name="Allow").click()  # ours
    page.get_by_text("You are connected").wait_for()
