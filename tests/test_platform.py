"""The platform: health, real Celery round trips, worker loss, settings, logging."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid

import pytest
import redis
import requests
from django.conf import settings

from etl.tasks import probe, probe_key
from tests.services import ROOT, PrivateRedis, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _probe_log(redis_url: str, nonce: str) -> list[str]:
    client = redis.Redis.from_url(redis_url)
    return [entry.decode() for entry in client.lrange(probe_key(nonce), 0, -1)]


def test_healthz_ok_when_database_redis_and_worker_answer(live_server, celery_worker):
    response = requests.get(f"{live_server.url}/healthz", timeout=10)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"database", "redis", "workers"}
    for part in body.values():
        assert part["status"] == "ok"
        assert isinstance(part["latency_ms"], int | float)
    assert "serves queue" in body["workers"]["detail"]
    assert response.headers["Cache-Control"].startswith("max-age=0")


def test_healthz_503_names_workers_when_none_serves_our_queue(live_server, monkeypatch):
    # A queue no worker consumes: the same as "no worker runs" for this gateway.
    monkeypatch.setattr(settings, "CELERY_TASK_DEFAULT_QUEUE", f"nobody-{uuid.uuid4().hex}")

    response = requests.get(f"{live_server.url}/healthz", timeout=10)

    assert response.status_code == 503
    body = response.json()
    assert body["workers"]["status"] == "down"
    assert "no worker" in body["workers"]["detail"]
    assert body["database"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"


def test_healthz_503_names_redis_when_redis_stops(start_gateway, start_worker):
    own = PrivateRedis().start()
    try:
        services = {"REDIS_URL": own.url, "CELERY_BROKER_URL": own.broker_url}
        start_worker(**services)
        gateway = start_gateway(**services)
        assert requests.get(f"{gateway.url}/healthz", timeout=10).status_code == 200

        own.stop()
        response = requests.get(f"{gateway.url}/healthz", timeout=15)
    finally:
        own.stop()

    assert response.status_code == 503
    body = response.json()
    assert body["redis"]["status"] == "down"
    assert body["redis"]["detail"]
    assert body["workers"]["status"] == "down"
    assert body["database"]["status"] == "ok"


def test_task_round_trips_through_broker_and_worker_subprocess(celery_worker):
    nonce = uuid.uuid4().hex

    result = probe.delay(nonce).get(timeout=30)

    assert result["nonce"] == nonce
    assert result["pid"] == celery_worker.pid  # solo pool: the worker process itself
    assert result["pid"] != os.getpid()
    assert _probe_log(settings.REDIS_URL, nonce) == [
        f"start:{result['pid']}",
        f"done:{result['pid']}",
    ]


def test_sigkilled_workers_acks_late_task_runs_again_on_another_worker(start_worker):
    own = PrivateRedis().start()  # restoring unacked messages must not touch anyone else's
    try:
        services = {
            "REDIS_URL": own.url,
            "CELERY_BROKER_URL": own.broker_url,
            "CELERY_VISIBILITY_TIMEOUT": "2",
        }
        first = start_worker(**services)
        nonce = uuid.uuid4().hex
        sender = probe.app.connection_for_write(own.broker_url)
        with sender:
            probe.apply_async((nonce, 60), connection=sender)

        wait_until(lambda: _probe_log(own.url, nonce), 30, what="first worker to start the task")
        assert _probe_log(own.url, nonce) == [f"start:{first.pid}"]
        first.kill()

        second = start_worker(**services)
        wait_until(
            lambda: f"start:{second.pid}" in _probe_log(own.url, nonce),
            60,
            what="the killed worker's task to be redelivered",
        )
        log = _probe_log(own.url, nonce)
    finally:
        own.stop()

    assert log[0] == f"start:{first.pid}"
    assert f"done:{first.pid}" not in log
    assert f"start:{second.pid}" in log


PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "gateway.example.org",
    "PUBLIC_BASE_URL": "https://gateway.example.org",
    "ENCRYPTION_KEYS": "q" * 43 + "=",
}


def _python(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run our Python in a fresh process with `env` over the current environment."""
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    for name in [k for k, v in full_env.items() if v is None]:
        del full_env[name]
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("missing", sorted(set(PRODUCTION) - {"DEBUG"}))
def test_production_settings_refuse_to_boot_without_required_secret(missing):
    result = _python("manage.py", "check", **{**PRODUCTION, missing: None})

    assert result.returncode == 2
    assert missing in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_production_settings_boot_with_every_secret():
    result = _python("manage.py", "check", **PRODUCTION)

    assert result.returncode == 0, result.stderr


def test_bad_setting_value_fails_loudly():
    result = _python("manage.py", "check", DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr
    assert "Traceback" not in result.stderr


def test_request_id_on_every_response_and_no_query_or_authorization_in_logs(live_server, caplog):
    caplog.set_level(logging.INFO, logger="payerbridge.access")

    generated = requests.get(
        f"{live_server.url}/healthz?code=SECRETCODE123",
        timeout=10,
        headers={"Authorization": "Bearer SECRETTOKEN456"},
    )
    echoed = requests.get(
        f"{live_server.url}/no-such-page",
        timeout=10,
        headers={"X-Request-Id": "client-chosen-id-1"},
    )

    assert len(generated.headers["X-Request-Id"]) == 32
    assert echoed.headers["X-Request-Id"] == "client-chosen-id-1"
    assert echoed.status_code == 404
    assert "GET /healthz" in caplog.text
    assert "SECRETCODE123" not in caplog.text
    assert "SECRETTOKEN456" not in caplog.text


def test_json_log_lines_in_production_format():
    code = (
        "import logging, django; django.setup();"
        "logging.getLogger('payerbridge.access').info('hello %s', 'world')"
    )
    result = _python("-c", code, LOG_FORMAT="json")

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello world"
    assert line["level"] == "INFO"


def test_gateway_serves_the_admin_static_files(start_gateway):
    # gunicorn serves no files itself; without this the admin renders unstyled.
    gateway = start_gateway(DEBUG="1")

    response = requests.get(f"{gateway.url}/static/admin/css/base.css", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/css")


def test_json_logs_carry_exception_locations_but_not_messages():
    code = (
        "import logging, django; django.setup()\n"
        "try:\n"
        "    raise ValueError('patient Jane Doe 555-12-3456')\n"
        "except ValueError:\n"
        "    logging.getLogger('payerbridge.test').exception('sync failed')\n"
    )
    result = _python("-c", code, LOG_FORMAT="json")

    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "sync failed"
    assert line["exc_type"] == "ValueError"
    assert line["exc_frames"] and "<string>:3" in line["exc_frames"][-1]
    assert "Jane Doe" not in result.stderr
