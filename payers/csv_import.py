"""An operator's own payer list (CSV) merged into the directory.

Columns (header row, any order): `name`, `fhir_base_url` (or `fhir_base`), `client_id`,
`client_secret`, `status`, `states`, `lines_of_business`; states and lines of business
are separated by spaces, commas or semicolons. A row updates the payer that has its
FHIR base (normalised, alternative bases included) and creates one otherwise; an
empty cell leaves the field as it is. Secrets go into the encrypted column and are
never echoed: a change says only that a secret is set or replaced. Every row is
checked before anything is written, and `plan` alone writes nothing (dry run).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from payers.directory_readers import normalise_url
from payers.models import LINE_OF_BUSINESS_LABELS, LINES_OF_BUSINESS, Payer
from payers.onboarding import find_payer, free_slug, with_endpoint
from payers.states import STATE_CODES, STATE_NAMES

SOURCE = "operator:csv"
SECRET_FIELDS = ("client_secret",)
_HEADER_ALIASES = {"fhir_base": "fhir_base_url", "fhir base": "fhir_base_url"}
_LOB_BY_LABEL = {label.lower(): code for code, label in LINE_OF_BUSINESS_LABELS}


class CsvError(Exception):
    """One line per bad row; nothing was written."""


@dataclass
class Change:
    line: int
    payer: Payer
    created: bool
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def describe(self) -> str:
        if self.created:
            head = f"line {self.line}: create {self.payer.slug} ({self.payer.name})"
            return f"{head} {self.payer.fhir_base_url}" + _secrets_note(self.fields)
        if not self.fields:
            return f"line {self.line}: unchanged {self.payer.slug}"
        parts = [
            f"{name} {'replaced' if old else 'set'}"
            if name in SECRET_FIELDS
            else f"{name} {old!r} -> {new!r}"
            for name, (old, new) in self.fields.items()
        ]
        return f"line {self.line}: update {self.payer.slug}: " + ", ".join(parts)


def _secrets_note(fields: dict[str, tuple[Any, Any]]) -> str:
    return "".join(f", {name} set" for name in SECRET_FIELDS if name in fields)


def _split(cell: str) -> list[str]:
    return [p for p in re.split(r"[\s,;]+", cell.strip()) if p]


def _states(cell: str, line: int) -> list[str]:
    codes = []
    for part in re.split(r"[,;]+", cell) if ("," in cell or ";" in cell) else _split(cell):
        part = part.strip()
        code = STATE_NAMES.get(part.lower(), part.upper())
        if code not in STATE_CODES:
            raise CsvError(f"line {line}: unknown state {part!r}")
        codes.append(code)
    return sorted(set(codes))


def _lines(cell: str, line: int) -> list[str]:
    out = []
    for part in re.split(r"[,;]+", cell):
        part = part.strip()
        code = _LOB_BY_LABEL.get(part.lower(), part.lower().replace(" ", "_"))
        if not part:
            continue
        if code not in LINES_OF_BUSINESS:
            raise CsvError(f"line {line}: unknown line of business {part!r}")
        out.append(code)
    return out


def read_rows(path: Path) -> list[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = []
        for row in reader:
            clean = {
                _HEADER_ALIASES.get(k.strip().lower(), k.strip().lower()): (v or "").strip()
                for k, v in row.items()
                if k
            }
            rows.append((reader.line_num, clean))
    return rows


def _wanted(line: int, row: dict[str, str]) -> dict[str, Any]:
    """The fields a row sets (empty cells set nothing), validated."""
    wanted: dict[str, Any] = {}
    for name in ("name", "client_id", "client_secret"):
        if row.get(name):
            wanted[name] = row[name]
    if row.get("status"):
        status = row["status"].lower().replace(" ", "_")
        if status not in Payer.Status.values:
            raise CsvError(f"line {line}: unknown status {row['status']!r}")
        wanted["status"] = status
    if row.get("states"):
        wanted["states"] = _states(row["states"], line)
    if row.get("lines_of_business"):
        wanted["lines_of_business"] = _lines(row["lines_of_business"], line)
    return wanted


def plan(rows: list[tuple[int, dict[str, str]]]) -> list[Change]:
    """What the rows would change; raises CsvError listing every bad row. Writes nothing."""
    changes, errors, seen, slugs = [], [], {}, set()
    for line, row in rows:
        try:
            changes.append(_plan_row(line, row, seen, slugs))
        except CsvError as exc:
            errors.append(str(exc))
    if errors:
        raise CsvError("\n".join(errors))
    return changes


def _plan_row(line: int, row: dict[str, str], seen: dict[str, int], slugs: set[str]) -> Change:
    base = row.get("fhir_base_url", "")
    if not base.startswith(("https://", "http://")):
        raise CsvError(f"line {line}: fhir_base_url must be an http(s) URL")
    key = normalise_url(base)
    if key in seen:
        raise CsvError(f"line {line}: same FHIR base as line {seen[key]}")
    seen[key] = line
    wanted = _wanted(line, row)
    payer = find_payer(base)
    if payer is None:
        if not wanted.get("name"):
            raise CsvError(f"line {line}: a new payer needs a name")
        slug = free_slug(wanted["name"], slugs)
        slugs.add(slug)
        payer = Payer(slug=slug, fhir_base_url=base.rstrip("/"), source=SOURCE)
        for name, value in wanted.items():
            setattr(payer, name, value)
        return Change(line, payer, True, {n: (None, v) for n, v in wanted.items()})
    fields = {
        name: (getattr(payer, name), value)
        for name, value in wanted.items()
        if getattr(payer, name) != value
    }
    return Change(line, payer, False, fields)


@transaction.atomic
def apply(changes: list[Change]) -> None:
    for change in changes:
        payer = change.payer
        if change.created:
            payer.endpoints = with_endpoint([], payer.fhir_base_url, SOURCE)
        elif not change.fields:
            continue
        for name, (_, new) in change.fields.items():
            setattr(payer, name, new)
        payer.save()
