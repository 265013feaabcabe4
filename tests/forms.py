"""Click through plain HTML forms without a browser.

`submit(session, response, {"Username": "x"}, button="Sign in")` finds the form
on the page that has the named button, fills fields by their `<label>` text (or
by input name), keeps hidden inputs (the CSRF token) and submits it with the
same `requests.Session`, so cookies carry over like in a browser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import requests


@dataclass
class Button:
    text: str
    name: str | None
    value: str


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)  # label text -> input id
    ids: dict[str, str] = field(default_factory=dict)  # input id -> input name
    buttons: list[Button] = field(default_factory=list)

    def field_for(self, key: str) -> str:
        """Input name for a label text or an input name."""
        if key in self.labels:
            return self.ids[self.labels[key]]
        if key in self.fields:
            return key
        raise KeyError(f"no field labelled or named {key!r}; labels: {sorted(self.labels)}")

    def button(self, text: str) -> Button:
        for button in self.buttons:
            if button.text == text:
                return button
        raise KeyError(f"no button {text!r}; buttons: {[b.text for b in self.buttons]}")


class _FormParser(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.forms: list[Form] = []
        self.labels: dict[str, str] = {}
        self._label_for: str | None = None
        self._label_text: list[str] = []
        self._button: Button | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            action = urljoin(self.base_url, a.get("action") or self.base_url)
            self.forms.append(Form(action=action, method=(a.get("method") or "get").lower()))
        elif tag == "label":
            self._label_for, self._label_text = a.get("for"), []
        elif tag == "input" and self.forms:
            self._input(a)
        elif tag == "button" and self.forms:
            self._button = Button(text="", name=a.get("name") or None, value=a.get("value", ""))

    def _input(self, a: dict[str, str]) -> None:
        form = self.forms[-1]
        kind = a.get("type", "text").lower()
        name = a.get("name")
        if kind == "submit":
            value = a.get("value", "")
            form.buttons.append(Button(text=value, name=name, value=value))
        elif name and (kind not in ("checkbox", "radio") or "checked" in a):
            form.fields[name] = a.get("value", "")
        if name and a.get("id"):
            form.ids[a["id"]] = name

    def handle_data(self, data: str) -> None:
        if self._label_for is not None:
            self._label_text.append(data)
        if self._button is not None:
            self._button.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label_for is not None:
            self.labels[" ".join("".join(self._label_text).split())] = self._label_for
            self._label_for = None
        elif tag == "button" and self._button is not None:
            self._button.text = " ".join(self._button.text.split())
            self.forms[-1].buttons.append(self._button)
            self._button = None


def parse_forms(response: requests.Response) -> list[Form]:
    parser = _FormParser(response.url)
    parser.feed(response.text)
    for form in parser.forms:
        form.labels = {text: id_ for text, id_ in parser.labels.items() if id_ in form.ids}
    return parser.forms


def find_form(response: requests.Response, button: str | None = None) -> Form:
    forms = parse_forms(response)
    for form in forms:
        if button is None or any(b.text == button for b in form.buttons):
            return form
    raise AssertionError(
        f"no form with button {button!r} at {response.url} "
        f"(status {response.status_code}):\n{response.text[:2000]}"
    )


def submit(
    session: requests.Session,
    response: requests.Response,
    values: dict[str, str] | None = None,
    *,
    button: str | None = None,
    allow_redirects: bool = True,
) -> requests.Response:
    """Fill and submit the form that has `button` (or the first form) on `response`."""
    form = find_form(response, button)
    data = dict(form.fields)
    for key, value in (values or {}).items():
        data[form.field_for(key)] = value
    if button is not None:
        chosen = form.button(button)
        if chosen.name:
            data[chosen.name] = chosen.value
    headers = {"Referer": response.url}
    if form.method == "post":
        return session.post(
            form.action, data=data, headers=headers, allow_redirects=allow_redirects, timeout=30
        )
    return session.get(
        form.action, params=data, headers=headers, allow_redirects=allow_redirects, timeout=30
    )
