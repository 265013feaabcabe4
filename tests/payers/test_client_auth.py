"""private_key_jwt: our assertion (payers.client_auth) against the sandbox that requires it."""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from payers import oauth_client
from payers.client_auth import (
    ASSERTION_TYPE,
    authlib_client_auth,
    client_assertion,
    client_assertion_params,
    generate_client_key,
    public_jwk,
)
from payers.models import Payer
from payers.sandbox.profiles import NAMED
from payers.sandbox.seed import register_sandbox_payer
from tests.payers.smart import (
    authorize_params,
    query_of,
    redirect_uri_for,
    sign_in_and_decide,
)

pytestmark = pytest.mark.django_db


def _register(slug: str, alg: str, sandbox_server, live_server, django_db_blocker) -> Payer:
    profile = dataclasses.replace(
        NAMED["lakeshore-health"][1],
        name=f"asymmetric-{alg}",
        client_auth="private_key_jwt",
        client_key_alg=alg,
    )
    with django_db_blocker.unblock():
        return register_sandbox_payer(
            slug, f"Keyed {alg}", profile, sandbox_server.url, live_server.url
        )


@pytest.fixture
def keyed(sandbox_server, live_server, django_db_blocker) -> Payer:
    """A sandbox payer whose token endpoint accepts only private_key_jwt (RS384)."""
    return _register("keyed-rs384", "RS384", sandbox_server, live_server, django_db_blocker)


def _code(payer: Payer, live_server) -> tuple[str, str, str]:
    verifier = secrets.token_urlsafe(48)
    redirect_uri = redirect_uri_for(live_server.url)
    params = authorize_params(payer, verifier=verifier, redirect_uri=redirect_uri)
    code = query_of(sign_in_and_decide(params, payer, "lakeshore-walter"))["code"]
    return code, verifier, redirect_uri


def _refresh_with(payer: Payer, **form: str) -> requests.Response:
    """A refresh with a bogus token: invalid_grant means the client authenticated."""
    data = {"grant_type": "refresh_token", "refresh_token": "bogus", **form}
    return requests.post(payer.token_url, data=data, timeout=30)


def _error(response: requests.Response) -> str:
    return response.json()["error"]


def test_assertion_claims_follow_smart_asymmetric_client_auth(keyed):
    assertion = client_assertion(keyed)
    keys = KeySet.import_key_set({"keys": [public_jwk(keyed)]})

    token = jwt.decode(assertion, keys, algorithms=["RS384"])

    assert token.header == {"alg": "RS384", "kid": keyed.client_key_id, "typ": "JWT"}
    claims = token.claims
    assert claims["iss"] == claims["sub"] == keyed.client_id
    assert claims["aud"] == keyed.token_url
    assert 0 < claims["exp"] - time.time() <= 300
    assert client_assertion(keyed) != assertion  # a fresh jti every time


def test_private_key_is_encrypted_at_rest(keyed):
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_private_key FROM payers_payer WHERE id = %s", [keyed.pk])
        stored = cursor.fetchone()[0]

    assert "PRIVATE KEY" in Payer.objects.get(pk=keyed.pk).client_private_key
    assert "PRIVATE KEY" not in stored and stored


def test_code_exchange_and_refresh_through_our_oauth_client_with_private_key_jwt(
    keyed, live_server
):
    """payers.oauth_client (authlib on payer_session) authenticates with our assertion."""
    code, verifier, redirect_uri = _code(keyed, live_server)

    token = oauth_client.exchange_code(keyed, code, verifier, redirect_uri)
    refreshed = oauth_client.refresh(keyed, token["refresh_token"])

    assert token["patient"] == "74f20731-a639-40e1-b8fb-d0d739d53caf"
    assert refreshed["access_token"] != token["access_token"]


def test_missing_private_key_is_a_readable_error(keyed, live_server):
    code, verifier, redirect_uri = _code(keyed, live_server)
    Payer.objects.filter(pk=keyed.pk).update(client_private_key="")
    keyed.refresh_from_db()

    with pytest.raises(oauth_client.PayerOAuthError, match=r"private key .* is missing"):
        oauth_client.exchange_code(keyed, code, verifier, redirect_uri)


def test_es384_keys_work_too(sandbox_server, live_server, django_db_blocker):
    payer = _register("keyed-es384", "ES384", sandbox_server, live_server, django_db_blocker)

    response = _refresh_with(payer, **client_assertion_params(payer))

    assert _error(response) == "invalid_grant", response.text


def test_client_secret_is_refused_where_private_key_jwt_is_required(keyed):
    response = requests.post(
        keyed.token_url,
        data={"grant_type": "refresh_token", "refresh_token": "x"},
        auth=(keyed.client_id, keyed.client_secret),
        timeout=30,
    )

    assert response.status_code == 401 and _error(response) == "invalid_client"
    assert "private_key_jwt" in response.json()["error_description"]


def test_replayed_assertion_is_refused(keyed):
    params = client_assertion_params(keyed)

    assert _error(_refresh_with(keyed, **params)) == "invalid_grant"
    replay = _refresh_with(keyed, **params)

    assert replay.status_code == 401 and _error(replay) == "invalid_client"
    assert "already used" in replay.json()["error_description"]


def _forged(payer: Payer, key_pem: str | None = None, **claims) -> str:
    """An assertion with some claims changed, signed with `key_pem` or the payer's key."""
    now = int(time.time())
    body = {
        "iss": payer.client_id,
        "sub": payer.client_id,
        "aud": payer.token_url,
        "iat": now,
        "exp": now + 120,
        "jti": secrets.token_urlsafe(12),
        **claims,
    }
    body = {k: v for k, v in body.items() if v is not None}
    key = RSAKey.import_key(key_pem or payer.client_private_key)
    header = {"alg": "RS384", "kid": payer.client_key_id, "typ": "JWT"}
    return jwt.encode(header, body, key, algorithms=["RS384"])


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "http://localhost:1/sandbox/other/oauth/token"}, "aud"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"exp": int(time.time()) + 3600}, "five minutes"),
        ({"exp": None}, "exp is required"),
        ({"jti": None}, "jti is required"),
        ({"sub": "someone-else"}, "iss and sub"),
    ],
)
def test_assertions_with_bad_claims_are_refused(keyed, claims, reason):
    response = _refresh_with(
        keyed, client_assertion_type=ASSERTION_TYPE, client_assertion=_forged(keyed, **claims)
    )

    assert response.status_code == 401 and _error(response) == "invalid_client"
    assert reason in response.json()["error_description"]


def test_assertion_signed_by_another_key_is_refused(keyed):
    other_pem, _ = generate_client_key("RS384")

    response = _refresh_with(
        keyed,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=_forged(keyed, key_pem=other_pem),
    )

    assert response.status_code == 401 and "signature" in response.json()["error_description"]


@pytest.mark.parametrize(
    "form",
    [
        {"client_assertion_type": ASSERTION_TYPE, "client_assertion": "not.a.jwt"},
        {"client_assertion_type": ASSERTION_TYPE, "client_assertion": "garbage"},
        {"client_assertion_type": ASSERTION_TYPE, "client_assertion": ""},
        {"client_assertion_type": "urn:other", "client_assertion": "a.b.c"},
        {"client_assertion_type": ASSERTION_TYPE},
    ],
)
def test_malformed_assertions_are_invalid_client(keyed, form):
    response = _refresh_with(keyed, **form)

    assert response.status_code == 401 and _error(response) == "invalid_client"


def test_assertion_and_secret_together_are_refused(keyed):
    response = requests.post(
        keyed.token_url,
        data={
            "grant_type": "refresh_token",
            "refresh_token": "x",
            **client_assertion_params(keyed),
        },
        auth=(keyed.client_id, keyed.client_secret),
        timeout=30,
    )

    assert response.status_code == 400 and _error(response) == "invalid_request"


def test_secret_payers_do_not_take_assertions_without_registered_keys(sandbox_payers):
    lakeshore = Payer.objects.get(slug="lakeshore-health")
    pem, public = generate_client_key("RS384")
    stranger = Payer(
        slug="stranger",
        client_id=lakeshore.client_id,
        token_url=lakeshore.token_url,
        client_private_key=pem,
        client_key_id=public["kid"],
        token_endpoint_auth_method="private_key_jwt",
    )

    response = _refresh_with(lakeshore, **client_assertion_params(stranger))

    assert response.status_code == 401 and _error(response) == "invalid_client"
    assert authlib_client_auth(lakeshore) == "client_secret_basic"


def test_payer_client_key_command_and_our_jwks_url(client):
    Payer.objects.create(
        slug="real-keyed", name="Real", client_id="pb", token_url="https://payer.example/token"
    )
    out = StringIO()

    call_command("payer_client_key", "real-keyed", "--alg", "ES384", stdout=out)
    public = json.loads(out.getvalue())
    payer = Payer.objects.get(slug="real-keyed")
    jwks = client.get("/payers/jwks.json").json()

    assert payer.token_endpoint_auth_method == "private_key_jwt"
    assert public["kid"] == payer.client_key_id and "d" not in public
    assert public in jwks["keys"]
    claims = jwt.decode(
        client_assertion(payer), KeySet.import_key_set(jwks), algorithms=["ES384"]
    ).claims
    assert claims["aud"] == "https://payer.example/token"

    again = StringIO()
    call_command("payer_client_key", "real-keyed", stdout=again)
    assert json.loads(again.getvalue())["kid"] == public["kid"]  # kept without --rotate
    rotated = StringIO()
    call_command("payer_client_key", "real-keyed", "--rotate", stdout=rotated)
    assert json.loads(rotated.getvalue())["kid"] != public["kid"]
    with pytest.raises(CommandError):
        call_command("payer_client_key", "no-such-payer")
