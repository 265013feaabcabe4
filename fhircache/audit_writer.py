"""Writes the data-access audit's rows off the request path, in batches.

`settings.FHIR_AUDIT_FLUSH_SECONDS` chooses how:

- `> 0` (the default, 1 s): each web process keeps the rows in memory and a
  daemon thread of its own inserts them every that many seconds (or sooner when
  `BATCH` rows are waiting), one INSERT per batch with `synchronous_commit` off
  for that transaction, so a request costs a list append and no commit waits for
  a disk flush. A process that exits normally writes what it holds (atexit); one
  killed outright loses at most the last interval's rows.
- `0`: each request's rows are inserted when its response is closed (after the
  last byte went out), one INSERT per request; slower under load, but a row
  exists as soon as the response is done (what tests that read rows back use).

The rows hold no PHI (`fhircache.access_log`), so holding them briefly in
memory adds no exposure.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading

from django.conf import settings
from django.db import DatabaseError, connection, transaction

log = logging.getLogger(__name__)

BATCH = 500


def write(rows: list) -> None:
    """Insert `rows` in one statement; an audit failure is logged, never raised."""
    if not rows:
        return
    from fhircache.access_log import DataAccess

    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            DataAccess.objects.bulk_create(rows)
    except DatabaseError as exc:
        log.error("data-access audit: %d row(s) not written: %s", len(rows), type(exc).__name__)


class _Deferred:
    """The process's pending rows and the thread that writes them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.rows: list = []
        self.pid: int | None = None

    def add(self, rows: list) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use in this (possibly forked) process
                self.pid, self.rows = os.getpid(), []
                threading.Thread(target=self._run, name="fhir-audit", daemon=True).start()
            self.rows.extend(rows)
            if len(self.rows) >= BATCH:
                self.wake.set()

    def drain(self) -> None:
        with self.lock:
            rows, self.rows = self.rows, []
        for start in range(0, len(rows), BATCH):
            write(rows[start : start + BATCH])

    def _run(self) -> None:
        while True:
            self.wake.wait(settings.FHIR_AUDIT_FLUSH_SECONDS)
            self.wake.clear()
            try:
                self.drain()
            finally:
                connection.close_if_unusable_or_obsolete()


_deferred = _Deferred()
atexit.register(_deferred.drain)


def submit(rows: list, response) -> None:
    """Queue the rows of one request (see the module docstring for when they land)."""
    if settings.FHIR_AUDIT_FLUSH_SECONDS > 0:
        _deferred.add(rows)
    else:
        response._resource_closers.append(lambda: write(rows))


def flush() -> None:
    """Write what this process holds now (deferred mode)."""
    _deferred.drain()
