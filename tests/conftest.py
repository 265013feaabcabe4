"""Shared fixtures: real PostgreSQL (pytest-django), real Redis, real workers.

The suite runs against whatever DATABASE_URL / REDIS_URL name (`make test`
starts embedded servers when they are unset). Celery traffic of one test run
goes to a queue of its own, so a dev stack on the same Redis is not disturbed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from django.conf import settings

from config.celery import app as celery_app
from tests.services import Gateway, Worker, database_url_for

TEST_QUEUE = f"pbtest-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session", autouse=True)
def _isolated_celery_queue() -> Iterator[str]:
    previous = settings.CELERY_TASK_DEFAULT_QUEUE
    settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE
    celery_app.conf.task_default_queue = TEST_QUEUE
    yield TEST_QUEUE
    settings.CELERY_TASK_DEFAULT_QUEUE = previous
    celery_app.conf.task_default_queue = previous


@pytest.fixture(scope="session", autouse=True)
def _audit_rows_inline():
    """In-process tests run inside transactions the audit's writer thread cannot see:
    write each request's audit rows with its response (FHIR_AUDIT_FLUSH_SECONDS=0)."""
    previous = settings.FHIR_AUDIT_FLUSH_SECONDS
    settings.FHIR_AUDIT_FLUSH_SECONDS = 0
    yield
    settings.FHIR_AUDIT_FLUSH_SECONDS = previous


@pytest.fixture(scope="session")
def process_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for subprocesses: same services, the test database, our queue."""
    env = dict(os.environ)
    env["DATABASE_URL"] = database_url_for(settings.DATABASES["default"]["NAME"])
    env["CELERY_TASK_DEFAULT_QUEUE"] = TEST_QUEUE
    # Subprocesses run as in production (no debug pages), with this process's
    # secrets so they can read what the tests encrypt and sign.
    env["DEBUG"] = "0"
    env["SECRET_KEY"] = settings.SECRET_KEY
    env["ALLOWED_HOSTS"] = "*"
    env["PUBLIC_BASE_URL"] = settings.PUBLIC_BASE_URL
    env["ENCRYPTION_KEYS"] = ",".join(settings.ENCRYPTION_KEYS)
    env["LOG_FORMAT"] = "text"
    return env


@pytest.fixture
def start_worker(process_env) -> Iterator[Callable[..., Worker]]:
    """Start real `celery worker` subprocesses; all are stopped after the test."""
    started: list[Worker] = []

    def start(**overrides: str) -> Worker:
        env = {**process_env, **overrides}
        worker = Worker(env, env["CELERY_TASK_DEFAULT_QUEUE"]).wait_ready()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def celery_worker(transactional_db, process_env) -> Iterator[Worker]:
    """A worker for one test, on an emptied queue.

    Per test, not per session: a worker left running would keep executing tasks
    that later tests enqueue while pytest empties their tables (a deadlock in
    PostgreSQL), and tasks queued by earlier tests name rows that are gone.
    Requesting `transactional_db` first makes the worker stop before the flush.
    """
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(TEST_QUEUE)
    worker = Worker(process_env, TEST_QUEUE).wait_ready()
    yield worker
    worker.stop()


@pytest.fixture
def start_gateway(process_env) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def start(**overrides: str) -> Gateway:
        gateway = Gateway({**process_env, **overrides}).wait_ready()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


from tests.sandbox import *  # noqa: E402,F403 - fixtures for the sandbox payers process
