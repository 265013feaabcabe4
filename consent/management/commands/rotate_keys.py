"""`manage.py rotate_keys`: re-encrypt every stored secret under the first ENCRYPTION_KEYS key.

Put a new key first in ENCRYPTION_KEYS, run this, then drop the old key.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from config.crypto import encrypted_fields, rotate


def rotate_all() -> dict[str, int]:
    """Rewrite each ciphertext with MultiFernet.rotate; returns rows rewritten per column.

    Works on the raw column (the field would decrypt on read), row-locked so a
    concurrent writer cannot be overwritten with a stale value.
    """
    counts: dict[str, int] = {}
    quote = connection.ops.quote_name
    for model, field in encrypted_fields():
        table = quote(model._meta.db_table)
        column = quote(model._meta.get_field(field).column)
        pk = quote(model._meta.pk.column)
        select = f"SELECT {pk}, {column} FROM {table} WHERE {column} <> '' FOR UPDATE"  # noqa: S608
        update = f"UPDATE {table} SET {column} = %s WHERE {pk} = %s"  # noqa: S608
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(select)
            rows = cursor.fetchall()
            for row_pk, ciphertext in rows:
                cursor.execute(update, [rotate(ciphertext), row_pk])
        counts[f"{model._meta.label}.{field}"] = len(rows)
    return counts


class Command(BaseCommand):
    help = "Re-encrypt every encrypted column under the newest key in ENCRYPTION_KEYS."

    def handle(self, *args, **options) -> None:
        for name, count in rotate_all().items():
            self.stdout.write(f"{name}: {count} value(s) re-encrypted")
