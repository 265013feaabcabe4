"""Write normalized pages while the next one is being normalized.

Normalizing is Python work; saving a page is mostly PostgreSQL's work (COPY,
upsert, TOAST, WAL), during which psycopg releases the GIL. A writer thread
with its own database connection lets the two overlap on a 2-core machine.
Pages are written in order, each in its own transaction, exactly as inline.

When the caller is inside a transaction of its own, pages must be written on
the caller's connection to be part of it (and to see its uncommitted rows),
so they are written inline.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field

from django.db import connection

from fhircache import repository
from fhircache.normalize.pipeline import PageResult

_DONE = object()


@dataclass
class WriteTotals:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, stats: repository.SaveStats) -> None:
        self.created += stats.created
        self.updated += stats.updated
        self.unchanged += stats.unchanged
        for resource_type, counts in stats.by_type.items():
            mine = self.by_type.setdefault(resource_type, {})
            for name, n in counts.items():
                mine[name] = mine.get(name, 0) + n


class PageWriter:
    """A context manager: `submit` pages in order; leaving waits for all of them."""

    def __init__(self, consent, *, guard: bool = False) -> None:
        self.consent = consent
        self.guard = guard
        self.totals = WriteTotals()
        self._error: BaseException | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        if not connection.in_atomic_block:
            self._queue = queue.Queue(maxsize=2)
            self._thread = threading.Thread(target=self._run, name="fhircache-writer")
            self._thread.start()

    def _save(self, page: PageResult) -> None:
        self.totals.add(
            repository.save_page(self.consent, page.resources, page.quarantined, guard=self.guard)
        )

    def _run(self) -> None:
        from django.db import connection as thread_connection

        try:
            while (page := self._queue.get()) is not _DONE:
                if self._error is None:
                    try:
                        self._save(page)
                    except BaseException as exc:  # handed to the caller in finish()
                        self._error = exc
        finally:
            thread_connection.close()

    def submit(self, page: PageResult) -> None:
        if self._thread is None:
            self._save(page)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(page)

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is not None:
            self._queue.put(_DONE)
            self._thread.join()
        if exc is None and self._error is not None:
            raise self._error
