"""The Payer model's derived fields, and the tests' own form helper."""

from __future__ import annotations

import pytest
import requests
from django.db import connection

from payers.models import Payer
from tests.forms import find_form, submit
from tests.payers.misbehaving import Reply


@pytest.mark.django_db
def test_payer_keeps_search_text_and_encrypts_client_secret():
    payer = Payer.objects.create(
        slug="acme",
        name="Acme Health",
        brand="Acme Group",
        aliases=["ACME MA"],
        states=["TX"],
        fhir_base_url="https://fhir.acme.example/r4",
        token_url="https://login.acme.example:8443/token",
        client_secret="s3cret",
    )

    assert payer.search_text == "acme health acme group acme ma tx"
    assert payer.own_origins == {"https://fhir.acme.example", "https://login.acme.example:8443"}
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM payers_payer WHERE id = %s", [payer.id])
        stored = cursor.fetchone()[0]
    assert "s3cret" not in stored
    assert Payer.objects.get(id=payer.id).client_secret == "s3cret"


def test_forms_helper_fills_by_label_and_clicks_named_button(misbehaving):
    page = """<form method="post" action="/go">
      <input type="hidden" name="csrf" value="tok">
      <label for="u">Username</label><input id="u" name="username">
      <button type="submit" name="decision" value="allow">Allow</button>
      <button type="submit" name="decision" value="deny">Deny</button></form>"""
    misbehaving.script("/page", Reply(200, page))
    misbehaving.script("/go", Reply(200, {"ok": True}))
    session = requests.Session()
    response = session.get(f"{misbehaving.url}/page")

    form = find_form(response, "Deny")
    submit(session, response, {"Username": "ann"}, button="Deny")

    assert form.labels == {"Username": "u"}
    assert misbehaving.hits("/go")[0].method == "POST"
