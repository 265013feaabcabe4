"""Proof that a purge left nothing: `manage.py verify_purged ID [--canary TEXT] [--json]`.

Three independent looks, none of them a hand-kept list:

1. every model with a foreign key to `Consent`, found through Django's app
   registry, is counted for this consent; a model whose rows are meant to stay
   says so with a `retained_after_purge = "why"` class attribute (timeline,
   webhook log, data-access audit) and is listed apart;
2. every text, JSON, bytea and text-array column of every table in the
   database (from PostgreSQL's catalog, so tables without a model count too)
   is searched for the canary values: the consent's id is not a canary (it
   legitimately stays in the kept rows), a value planted in its data is;
3. every Redis key is checked for the consent id in its name and the canaries
   in its name or value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import redis
from django.apps import apps
from django.conf import settings
from django.db import connection
from psycopg import sql

from consent.models import Consent

_SCANNED_TYPES = ("text", "character varying", "jsonb", "json", "bytea", "ARRAY")
_REDIS_VALUE_LIMIT = 1 << 20  # bytes read per key when looking for a canary


@dataclass
class Leftover:
    kind: str  # "rows" | "canary" | "redis" | "state"
    where: str
    count: int = 1


@dataclass
class Verification:
    consent_id: str
    data_state: str
    left: list[Leftover] = field(default_factory=list)
    retained: list[dict] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.left

    def as_json(self) -> dict:
        return {
            "consent_id": self.consent_id,
            "clean": self.clean,
            "data_state": self.data_state,
            "left": [asdict(item) for item in self.left],
            "retained": self.retained,
        }


def verify_purged(consent: Consent, canaries: list[str] = ()) -> Verification:
    result = Verification(str(consent.pk), consent.data_state)
    if consent.data_state != Consent.DataState.PURGED:
        result.left.append(Leftover("state", f"data_state is {consent.data_state}"))
    for model, fk in models_referring_to_consent():
        count = model._default_manager.filter(**{fk: consent.pk}).count()
        if not count:
            continue
        label = f"{model._meta.label}.{fk}"
        reason = getattr(model, "retained_after_purge", None)
        if reason:
            result.retained.append({"model": label, "count": count, "why": reason})
        else:
            result.left.append(Leftover("rows", label, count))
    canaries = [c for c in canaries if c]
    for table, column, count in canary_in_database(canaries):
        result.left.append(Leftover("canary", f"{table}.{column}", count))
    for key in redis_leftovers(str(consent.pk), canaries):
        result.left.append(Leftover("redis", key))
    return result


def models_referring_to_consent() -> list[tuple[type, str]]:
    """(model, field name) for every concrete foreign key or one-to-one to Consent."""
    found = []
    for model in apps.get_models():
        for f in model._meta.get_fields():
            one = f.many_to_one or f.one_to_one
            if f.concrete and f.is_relation and one and f.related_model is Consent:
                found.append((model, f.name))
    return found


def canary_in_database(canaries: list[str]) -> list[tuple[str, str, int]]:
    """(table, column, rows) for each column of each table holding any canary."""
    if not canaries:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema"
            " AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'"
            " WHERE c.table_schema = current_schema() AND c.data_type = ANY(%s)"
            " ORDER BY 1, 2",
            [list(_SCANNED_TYPES)],
        )
        columns = cursor.fetchall()
        hits = []
        for table, column, data_type in columns:
            count = _count_matches(cursor, table, column, data_type, canaries)
            if count:
                hits.append((table, column, count))
    return hits


def _count_matches(cursor, table: str, column: str, data_type: str, canaries) -> int:
    col = sql.Identifier(column)
    if data_type == "bytea":
        test = sql.SQL("position(convert_to(%s, 'UTF8') in {}) > 0").format(col)
    elif data_type == "ARRAY":
        test = sql.SQL("strpos(array_to_string({}::text[], ' '), %s) > 0").format(col)
    else:
        test = sql.SQL("strpos({}::text, %s) > 0").format(col)
    where = sql.SQL(" OR ").join([test] * len(canaries))
    query = sql.SQL("SELECT count(*) FROM {} WHERE {}").format(sql.Identifier(table), where)
    cursor.execute(query.as_string(cursor.connection), list(canaries))
    return cursor.fetchone()[0]


def redis_leftovers(consent_id: str, canaries: list[str]) -> list[str]:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    left = [k.decode(errors="replace") for k in client.scan_iter(match=f"*{consent_id}*")]
    if canaries:
        needles = [c.encode() for c in canaries]
        for key in client.scan_iter(count=1000):
            name = key.decode(errors="replace")
            if name not in left and any(n in key or n in _value(client, key) for n in needles):
                left.append(name)
    return left


def _value(client: redis.Redis, key: bytes) -> bytes:
    """The key's content as bytes, whatever its type (bounded)."""
    kind = client.type(key)
    if kind == b"string":
        return client.getrange(key, 0, _REDIS_VALUE_LIMIT) or b""
    if kind == b"hash":
        return b"\n".join(k + b"=" + v for k, v in client.hgetall(key).items())
    if kind == b"list":
        return b"\n".join(client.lrange(key, 0, 10_000))
    if kind == b"set":
        return b"\n".join(client.smembers(key))
    if kind == b"zset":
        return b"\n".join(client.zrange(key, 0, 10_000))
    if kind == b"stream":
        return repr(client.xrange(key, count=10_000)).encode()
    return b""
