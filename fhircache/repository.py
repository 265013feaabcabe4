# ruff: noqa: S608 - SQL is assembled only from this module's constant fragments;
# every value is a bound parameter.
"""The only code that reads or writes the FHIR store.

Every function takes the consent (or its id) and every statement filters on
it: there is no unscoped read path. Rows are returned as `StoredResource`;
`content` is the stored JSON bytes, to be sent as they are.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from django.db import connection, transaction

from fhircache import criteria as c
from fhircache.normalize.pipeline import NormalizedResource, QuarantinedItem
from fhircache.search_sql import conditions, holds_nul, keyset_condition, order_keys

TABLE = "fhircache_resource"
_COLUMNS = "resource_type, resource_id, version, last_updated, content, links, refs"


@dataclass(frozen=True)
class StoredResource:
    resource_type: str
    resource_id: str
    version: int
    last_updated: datetime
    content: bytes
    links: list[str]
    refs: list[str]

    @property
    def key(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"


class ConsentClosed(Exception):
    """The consent ended or is being purged: a sync must write nothing more for it."""


# A page may be written only while its consent can still be served (DESIGN.md "States").
_OPEN_STATUSES = ("active", "reauth_required")
_CLOSED_DATA_STATES = ("purging", "purged")


def _check_consent_open(raw, consent_id: uuid.UUID) -> None:
    """Inside the page's transaction: share-lock the consent row and check it is open.

    FOR SHARE conflicts with the FOR UPDATE that `consent.lifecycle.end_consent`
    takes, so a revocation either commits before this page (which then sees it
    and writes nothing) or waits until the page is committed.
    """
    raw.execute(
        "SELECT status, data_state FROM consent_consent WHERE id = %s FOR SHARE", (consent_id,)
    )
    found = raw.fetchone()
    if found is None or found[0] not in _OPEN_STATUSES or found[1] in _CLOSED_DATA_STATES:
        state = f"{found[0]}/{found[1]}" if found else "gone"
        raise ConsentClosed(f"consent {consent_id} is {state}; nothing more is written for it")


@dataclass(frozen=True)
class SaveStats:
    created: int
    updated: int
    unchanged: int
    # per resource type: {"created": n, "updated": n, "unchanged": n}
    by_type: dict[str, dict[str, int]] = field(default_factory=dict)


def _consent_id(consent) -> uuid.UUID:
    value = getattr(consent, "pk", consent)
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _row(values: Sequence) -> StoredResource:
    rtype, rid, version, last_updated, content, links, refs = values
    return StoredResource(rtype, rid, version, last_updated, bytes(content), links, refs)


_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS fhircache_staging (
    resource_type text, resource_id text, last_updated timestamptz, content_hash bytea,
    content bytea, source_id text, tokens text[], refs text[], dates text[],
    strings text[], links text[], outcome text
) ON COMMIT DELETE ROWS
"""
_STAGING_TYPES = [
    "text",
    "text",
    "timestamptz",
    "bytea",
    "bytea",
    "text",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text[]",
    "text",
]
_UPSERT = f"""
INSERT INTO {TABLE} AS r (consent_id, resource_type, resource_id, version, last_updated,
    content_hash, content, source_id, tokens, refs, dates, strings, links)
SELECT %s, s.resource_type, s.resource_id, 1, COALESCE(s.last_updated, now()),
    s.content_hash, s.content, s.source_id, s.tokens, s.refs, s.dates, s.strings, s.links
FROM fhircache_staging s
ON CONFLICT (consent_id, resource_type, resource_id) DO UPDATE SET
    version = r.version + 1, last_updated = EXCLUDED.last_updated,
    content_hash = EXCLUDED.content_hash, content = EXCLUDED.content,
    source_id = EXCLUDED.source_id, tokens = EXCLUDED.tokens, refs = EXCLUDED.refs,
    dates = EXCLUDED.dates, strings = EXCLUDED.strings, links = EXCLUDED.links
WHERE r.content_hash <> EXCLUDED.content_hash
RETURNING r.resource_type, r.version
"""
# A resource's stored outcome follows its latest version: dropped when it is
# valid now, written (only when it changed) when it is flagged.
_DROP_OUTCOMES = """
DELETE FROM fhircache_outcome o USING fhircache_staging s
WHERE o.consent_id = %s AND o.resource_type = s.resource_type
    AND o.resource_id = s.resource_id AND s.outcome IS NULL
"""
_UPSERT_OUTCOMES = """
INSERT INTO fhircache_outcome AS o (consent_id, resource_type, resource_id, outcome, updated_at)
SELECT %s, s.resource_type, s.resource_id, s.outcome::jsonb, now()
FROM fhircache_staging s WHERE s.outcome IS NOT NULL
ON CONFLICT (consent_id, resource_type, resource_id) DO UPDATE SET
    outcome = EXCLUDED.outcome, updated_at = EXCLUDED.updated_at
WHERE o.outcome IS DISTINCT FROM EXCLUDED.outcome
"""


def row_values(r: NormalizedResource) -> tuple:
    """A normalized resource as the store's columns, in `_STAGING_TYPES` order."""
    return (
        r.resource_type,
        r.resource_id,
        r.last_updated,
        r.content_hash,
        r.content,
        r.source_id,
        r.index.tokens,
        r.index.refs,
        r.index.dates,
        r.index.strings,
        r.links,
        None if r.outcome is None else _json(r.outcome),
    )


def save_page(
    consent,
    resources: Sequence[NormalizedResource],
    quarantined: Sequence[QuarantinedItem] = (),
    *,
    guard: bool = True,
) -> SaveStats:
    """Upsert one page in one transaction: COPY into a staging table, then one
    INSERT … ON CONFLICT that bumps the version only when the content changed.

    With `guard` (syncs) the consent must still be open, else `ConsentClosed`
    is raised and nothing is written; direct loads (load_bundle, fixtures with
    pending consents) pass `guard=False`."""
    consent_id = _consent_id(consent)
    latest = {(r.resource_type, r.resource_id): r for r in resources}  # last one wins
    # psycopg's own cursor for COPY; its errors still reach callers as
    # django.db errors, like those of every other repository function
    with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor
        if guard:
            _check_consent_open(raw, consent_id)
        raw.execute(_STAGING)
        with raw.copy("COPY fhircache_staging FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_STAGING_TYPES)
            for r in latest.values():
                copy.write_row(row_values(r))
        raw.execute(_UPSERT, (consent_id,))
        written = raw.fetchall()
        raw.execute(_DROP_OUTCOMES, (consent_id,))
        if any(r.outcome is not None for r in latest.values()):
            raw.execute(_UPSERT_OUTCOMES, (consent_id,))
        raw.execute("TRUNCATE fhircache_staging")
        if quarantined:
            raw.executemany(
                "INSERT INTO fhircache_quarantine (consent_id, resource_type, source_id,"
                " digest, reason, outcome, content, created_at)"
                " VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, now())"
                " ON CONFLICT (consent_id, digest) DO NOTHING",
                [
                    (
                        consent_id,
                        q.resource_type,
                        q.source_id[:255],
                        q.digest,
                        q.reason,
                        _json(q.outcome),
                        q.content,
                    )
                    for q in quarantined
                ],
            )
    return _stats(latest, written)


def _stats(latest: dict, written: list[tuple[str, int]]) -> SaveStats:
    """Totals and per-type counts: a returned version 1 is a new row, a higher
    one an update; a row the upsert did not return was unchanged."""
    by_type: dict[str, dict[str, int]] = {}
    for resource_type, _rid in latest:
        counts = by_type.setdefault(resource_type, {"created": 0, "updated": 0, "unchanged": 0})
        counts["unchanged"] += 1
    for resource_type, version in written:
        counts = by_type[resource_type]
        counts["unchanged"] -= 1
        counts["created" if version == 1 else "updated"] += 1
    created = sum(c["created"] for c in by_type.values())
    updated = sum(c["updated"] for c in by_type.values())
    return SaveStats(created, updated, len(latest) - created - updated, by_type)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


def delete_absent(consent, keep: Iterable[tuple[str, str]]) -> int:
    """After a full sync: delete this consent's rows whose key is not in `keep`.

    The consent's keys are read (one index scan) and compared here, and only the
    absent ones are named to the DELETE: an anti-join against the keep-list was
    planned, right after a first load, from statistics that still said the consent
    had no rows, as a nested loop (12,000 x 12,000 comparisons: 12 s; quadratic)."""
    consent_id = _consent_id(consent)
    keep = keep if isinstance(keep, set | frozenset) else set(keep)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT resource_type, resource_id FROM {TABLE} WHERE consent_id = %s",
            [consent_id],
        )
        absent = [key for key in cursor.fetchall() if key not in keep]
        deleted = 0
        if absent:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE consent_id = %s AND (resource_type, resource_id)"
                " IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                [consent_id, [k[0] for k in absent], [k[1] for k in absent]],
            )
            deleted = cursor.rowcount
        cursor.execute(
            "DELETE FROM fhircache_outcome o WHERE o.consent_id = %s AND NOT EXISTS ("
            f" SELECT 1 FROM {TABLE} r WHERE r.consent_id = o.consent_id"
            " AND r.resource_type = o.resource_type AND r.resource_id = o.resource_id)",
            [consent_id],
        )
    return deleted


def read(consent, resource_type: str, resource_id: str) -> StoredResource | None:
    if holds_nul((resource_type, resource_id)):
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE consent_id = %s AND resource_type = %s"
            " AND resource_id = %s",
            [_consent_id(consent), resource_type, resource_id],
        )
        found = cursor.fetchone()
    return _row(found) if found else None


def read_many(consent, keys: Iterable[str]) -> list[StoredResource]:
    """The rows for "Type/id" keys that exist (for _include and $everything)."""
    pairs = sorted({tuple(k.split("/", 1)) for k in keys if "/" in k and "\x00" not in k})
    if not pairs:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE consent_id = %s AND (resource_type,"
            " resource_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
            " ORDER BY resource_type, resource_id",
            [_consent_id(consent), [p[0] for p in pairs], [p[1] for p in pairs]],
        )
        return [_row(v) for v in cursor.fetchall()]


# --- search -----------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    rows: list[StoredResource]
    next_after: tuple | None  # pass back as `after` for the next page


SORTS = {
    "_id": ("r.resource_type", "r.resource_id"),
    "_lastUpdated": ("r.last_updated", "r.resource_type", "r.resource_id"),
}


def search(
    consent,
    resource_type: str | None,
    criteria: Sequence[c.Criterion] = (),
    *,
    sort: str = "_id",
    descending: bool = False,
    after: tuple | None = None,
    limit: int = 50,
) -> Page:
    """One page of matching rows, keyset-paged on a unique sort key.

    `sort` is "_id" (type, id) or "_lastUpdated" (time, type, id): the id
    breaks ties, so rows with equal payer timestamps never repeat or vanish
    between pages. `after` is the previous page's `next_after`.
    """
    params: list = [_consent_id(consent)]
    where = conditions(resource_type, criteria, params)
    keys = SORTS[sort]
    if after is not None:
        op = "<" if descending else ">"
        where.append(f"({', '.join(keys)}) {op} ({', '.join(['%s'] * len(keys))})")
        params.extend(after)
    direction = "DESC" if descending else "ASC"
    order = ", ".join(f"{k} {direction}" for k in keys)
    params.append(limit + 1)
    sql = f"SELECT {_COLUMNS} FROM {TABLE} r WHERE {' AND '.join(where)} ORDER BY {order} LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = [_row(v) for v in cursor.fetchall()]
    more = len(rows) > limit
    rows = rows[:limit]
    next_after = None
    if more and rows:
        last = rows[-1]
        next_after = (
            (last.resource_type, last.resource_id)
            if sort == "_id"
            else (last.last_updated, last.resource_type, last.resource_id)
        )
    return Page(rows, next_after)


@dataclass(frozen=True)
class SortedPage:
    rows: list[StoredResource]
    positions: list[tuple]  # each row's sort key values (JSON-safe), for paging links
    more: bool  # whether rows exist beyond this page in the direction read


def find(
    consent,
    resource_type: str,
    criteria: Sequence[c.Criterion] = (),
    sort: Sequence[c.Sort] = (),
    *,
    position: Sequence | None = None,
    backward: bool = False,
    limit: int = 50,
) -> SortedPage:
    """One page of one consent's matches in `_sort` order, keyset-paged.

    The order ends in (type, id), so it is total and a row's sort values
    (`positions`) identify its place: pass a row's position back to read the
    rows after it, or before it with `backward` (rows still come in sort order).
    """
    params: list = [_consent_id(consent)]
    where = conditions(resource_type, criteria, params)
    keys = order_keys(sort)
    if position is not None:
        where.append(keyset_condition(keys, position, params, backward=backward))
    selected = ", ".join(f"{expression} AS k{i}" for i, (expression, _, _) in enumerate(keys))
    order = ", ".join(
        f"k{i} {'DESC' if descending != backward else 'ASC'}"
        for i, (_, descending, _) in enumerate(keys)
    )
    params.append(limit + 1)
    sql = (
        f"SELECT {_COLUMNS}, {selected} FROM {TABLE} r WHERE {' AND '.join(where)}"
        f" ORDER BY {order} LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    more = len(fetched) > limit
    fetched = fetched[:limit]
    if backward:
        fetched.reverse()
    width = len(_COLUMNS.split(","))
    rows = [_row(v[:width]) for v in fetched]
    positions = [
        tuple(k.isoformat() if isinstance(k, datetime) else k for k in v[width:]) for v in fetched
    ]
    return SortedPage(rows, positions, more)


def count(consent, resource_type: str | None, criteria: Sequence[c.Criterion] = ()) -> int:
    params: list = [_consent_id(consent)]
    where = conditions(resource_type, criteria, params)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE} r WHERE {' AND '.join(where)}", params)
        return cursor.fetchone()[0]


def counts(consent) -> dict[str, int]:
    """Rows per resource type."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT resource_type, count(*) FROM {TABLE} WHERE consent_id = %s"
            " GROUP BY resource_type ORDER BY resource_type",
            [_consent_id(consent)],
        )
        return dict(cursor.fetchall())


def read_outcome(consent, resource_type: str, resource_id: str) -> dict | None:
    """The stored OperationOutcome of a flagged resource (for `$validate` on a
    stored resource); None when the resource is valid or not stored."""
    if holds_nul((resource_type, resource_id)):
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT outcome FROM fhircache_outcome WHERE consent_id = %s AND resource_type = %s"
            " AND resource_id = %s",
            [_consent_id(consent), resource_type, resource_id],
        )
        found = cursor.fetchone()
    if found is None:
        return None
    return found[0] if isinstance(found[0], dict) else orjson.loads(found[0])


def outcome_count(consent) -> int:
    """How many stored resources of the consent are flagged."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM fhircache_outcome WHERE consent_id = %s", [_consent_id(consent)]
        )
        return cursor.fetchone()[0]


def quarantine_count(consent) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM fhircache_quarantine WHERE consent_id = %s",
            [_consent_id(consent)],
        )
        return cursor.fetchone()[0]


def dangling_references(consent) -> list[tuple[str, str]]:
    """(source "Type/id", target "Type/id") for local references to absent rows, sorted.

    Two index scans of the consent's rows and a set difference here, not one anti-join:
    right after a bulk load the planner's row estimates for a new consent are stale, and
    its anti-join plan then took up to a minute for 12,000 rows (bench/sync.py)."""
    consent_id = _consent_id(consent)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT resource_type || '/' || resource_id FROM {TABLE} WHERE consent_id = %s",
            [consent_id],
        )
        present = {key for (key,) in cursor.fetchall()}
        cursor.execute(
            f"SELECT resource_type || '/' || resource_id, links FROM {TABLE}"
            " WHERE consent_id = %s AND cardinality(links) > 0",
            [consent_id],
        )
        found = {
            (source, target)
            for source, links in cursor.fetchall()
            for target in links
            if target not in present
        }
    return sorted(found)


# Rows deleted per transaction by `delete_consent_data`: short transactions keep
# WAL bursts, replication lag and lock lists small while the purge runs.
PURGE_BATCH = 5000
_PURGE_TABLES = (
    ("resources", TABLE, "resource_type, resource_id"),
    ("outcomes", "fhircache_outcome", "resource_type, resource_id"),
    ("quarantined", "fhircache_quarantine", "id"),
)


def delete_consent_data(consent, batch: int = PURGE_BATCH) -> dict[str, int]:
    """Delete every cached row of one consent (store, stored outcomes and
    quarantine), in batches of `batch` rows, each its own transaction.

    Every table leads its primary/unique key with the consent, so each batch is
    a range scan on an index, proportional to that consent's rows only; other
    consents' rows are never locked (their reads go on; PostgreSQL readers do
    not wait for writers anyway). Safe to interrupt and run again.
    """
    consent_id = _consent_id(consent)
    deleted = {}
    for name, table, key in _PURGE_TABLES:
        deleted[name] = 0
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE consent_id = %s AND ({key}) IN ("
                    f" SELECT {key} FROM {table} WHERE consent_id = %s LIMIT %s)",
                    [consent_id, consent_id, batch],
                )
                count = cursor.rowcount
            deleted[name] += count
            if count < batch:
                break
    return deleted
