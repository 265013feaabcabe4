"""Build the real payer directory from the public lists in `directory_sources/`.

Sources (see `directory_sources/SOURCES.md`): fhir-gateway's payer records and
drafts, CMS's State Medicaid Agency directory, ONC Lantern's state Medicaid and
Medicare Advantage lists and the health-plan entries of its CHPL lists
(`payers.directory_readers` reads each into `Record`s). Records become plans:

- records with the same normalised FHIR base (`/carin-bb` and `/pdex` variants
  folded) are one endpoint; records of the same plan name are one plan, so a plan
  published at several bases is one payer with its alternative bases kept;
- the most recent source wins (CMS rows carry their survey date; the other lists
  are undated and rank fhir-gateway, CMS, Lantern, Lantern CHPL, drafts) and every
  source stays listed, per payer and per endpoint;
- the Patient Access base is the endpoint a source calls Patient Access, the most
  recent, the most corroborated, R4 first; formulary, provider-directory and
  sandbox endpoints are kept as endpoints of their kind, never as a payer's base;
- a plan whose chosen base no source calls Patient Access (plan tenants on an EHR
  vendor's consumer host) is marked unconfirmed: patients never see it until an
  admin verifies it.
Nothing here invents a payer: names, URLs and states come from the lists.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.utils.text import slugify

from payers import directory_readers as readers
from payers.directory_readers import PATIENT_ACCESS, PlanFacts, Record, normalise_url

SOURCES_DIR = Path(__file__).resolve().parent / "directory_sources"
FIXTURE = Path(__file__).resolve().parent / "data" / "payer_directory.json"
# Undated lists rank in this order (first wins); dated facts beat undated ones.
SOURCE_ORDER = ("fhir-gateway", "cms-sma", "lantern", "lantern-chpl", "fhir-gateway-drafts")


@dataclass(kw_only=True)
class Entry(PlanFacts):
    """One payer of the shipped directory."""

    name: str
    fhir_base_url: str
    sources: list[str]
    slug: str = ""
    # Every endpoint of the plan: {"url", "key", "kind", "sources", "variants",
    # "patient_access_stated"}; the base is the first of kind patient_access.
    endpoints: list[dict[str, Any]] = field(default_factory=list)
    patient_access_unconfirmed: bool = False

    @property
    def keys(self) -> set[str]:
        return {e["key"] for e in self.endpoints}


def read_records(sources: Path = SOURCES_DIR) -> list[Record]:
    return (
        readers.fhir_gateway(sources / "fhir-gateway")
        + readers.cms_sma(sources / "cms-sma")
        + readers.lantern_medicaid(sources / "lantern")
        + readers.lantern_medicare(sources / "lantern")
        + readers.lantern_chpl(sources / "lantern-chpl")
        + readers.fhir_gateway(
            sources / "fhir-gateway-drafts", label="fhir-gateway-drafts", as_of=""
        )
    )


def plan_key(name: str) -> str:
    """Names of one plan as the lists spell it ("BlueCross", "&", "of", "Corporation")."""
    lowered = name.lower().replace("&", " and ")
    lowered = lowered.replace("bluecross", "blue cross").replace("blueshield", "blue shield")
    words = re.sub(r"[^a-z0-9 ]", " ", lowered).split()
    return " ".join(w for w in words if w not in {"and", "the", "of", "corporation", "inc"})


def _precedence(record: Record) -> tuple:
    """Sort key: dated facts first, newest first; then the list order."""
    origin = record.source.split(":", 1)[0]
    return (record.as_of == "", _negate(record.as_of), SOURCE_ORDER.index(origin))


def _negate(iso: str) -> str:
    return "".join(chr(255 - ord(c)) for c in iso)


def _groups(records: list[Record]) -> list[list[Record]]:
    """Union of records sharing a normalised base or a plan name."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for index, record in enumerate(records):
        keys = [f"name:{plan_key(record.name)}"]
        if record.url:
            keys.append(f"url:{normalise_url(record.url)}")
        for key in keys:
            if key in first:
                parent[find(index)] = find(first[key])
            else:
                first[key] = index
    groups: dict[int, list[Record]] = {}
    for index, record in enumerate(records):
        groups.setdefault(find(index), []).append(record)
    return [sorted(g, key=_precedence) for g in groups.values()]


def _unique(values) -> list:
    out: list = []
    for value in values:
        if value and value not in out:
            out.append(value)
    return out


def _endpoints(records: list[Record]) -> list[dict[str, Any]]:
    by_key: dict[str, list[Record]] = {}
    for record in records:
        if record.url:
            by_key.setdefault(normalise_url(record.url), []).append(record)
    endpoints = []
    for key, same in by_key.items():
        urls = _unique(readers.clean_base(r.url) for r in same)
        # The claims (CARIN BB) base of a /carin-bb + /pdex pair; else the best source's.
        urls.sort(
            key=lambda u: (not u.rstrip("/").lower().endswith("/carin-bb"), u.endswith("/pdex"))
        )
        kinds = {r.kind for r in same}
        endpoints.append(
            {
                "url": urls[0],
                "key": key,
                "kind": PATIENT_ACCESS if PATIENT_ACCESS in kinds else same[0].kind,
                "sources": _unique(r.source for r in same),
                "variants": urls[1:],
                "patient_access_stated": any(
                    r.states_patient_access and r.kind == PATIENT_ACCESS for r in same
                ),
                "_rank": _rank(same, urls[0]),
            }
        )
    endpoints.sort(key=lambda e: e.pop("_rank"))
    return endpoints


def _rank(same: list[Record], url: str) -> tuple:
    """Which endpoint is the plan's Patient Access base (lowest first)."""
    best = min(_precedence(r) for r in same)
    kind_rank = 0 if any(r.kind == PATIENT_ACCESS for r in same) else 1
    stated = not any(r.states_patient_access for r in same)
    r4 = "r4" not in url.lower()
    position = min(r.position for r in same if _precedence(r) == best)
    return (kind_rank, stated, best, position, -len(same), r4, url)


def _entry(group: list[Record]) -> Entry | None:
    endpoints = _endpoints(group)
    access = [e for e in endpoints if e["kind"] == PATIENT_ACCESS]
    status = next((r for r in group if r.published_status), None)
    if not access and status is None:
        return None  # a formulary/directory/sandbox-only or URL-less draft record: no payer
    named = next((r for r in group if r.kind == PATIENT_ACCESS), group[0])
    base = access[0] if access else None
    # Names of formulary/directory/sandbox records are not names a patient searches.
    named_by = [r for r in group if r.kind == PATIENT_ACCESS]
    names = _unique([named.name] + [n for r in named_by for n in [r.name, *r.aliases]])
    return Entry(
        name=named.name,
        fhir_base_url=base["url"] if base else "",
        sources=_unique(r.source for r in sorted(group, key=lambda r: r.kind != PATIENT_ACCESS)),
        aliases=[n for n in names if n != named.name],
        brand=next((r.brand for r in group if r.brand), ""),
        lines_of_business=_unique(lob for r in group for lob in r.lines_of_business),
        states=sorted({s for r in group for s in r.states}),
        authorize_url=next((r.authorize_url for r in group if r.authorize_url), ""),
        token_url=next((r.token_url for r in group if r.token_url), ""),
        quirks={k: v for r in reversed(group) for k, v in r.quirks.items()},
        endpoints=endpoints,
        published_status=status.published_status if status else "",
        go_live_date=status.go_live_date if status else "",
        patient_access_unconfirmed=bool(base) and not base["patient_access_stated"],
    )


def build_directory(sources: Path = SOURCES_DIR) -> list[Entry]:
    """Every plan in the lists, one entry per plan, with unique slugs."""
    entries = [e for g in _groups(read_records(sources)) if (e := _entry(g)) is not None]
    entries.sort(key=lambda e: (e.name.lower(), e.fhir_base_url))
    _assign_slugs(entries)
    return entries


def _assign_slugs(entries: list[Entry]) -> None:
    """Slug from the name; a clash gets its base's host or a digest."""
    taken: set[str] = set()
    for entry in entries:
        base = slugify(entry.name)[:90] or "payer"
        slug = base
        if slug in taken:
            host = slugify((urlsplit(entry.fhir_base_url).hostname or "").split(".")[0])
            slug = f"{base}-{host}" if host else base
        if slug in taken:
            digest = hashlib.sha256(entry.fhir_base_url.encode()).hexdigest()[:6]
            slug = f"{base}-{digest}"
        entry.slug = slug
        taken.add(slug)


def write_fixture(entries: list[Entry], path: Path = FIXTURE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps([asdict(e) for e in entries], option=orjson.OPT_INDENT_2))


def read_fixture(path: Path = FIXTURE) -> list[Entry]:
    return [Entry(**item) for item in orjson.loads(path.read_bytes())]


def patient_access_endpoints(endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in endpoints if e["kind"] == PATIENT_ACCESS]


def parse_date(iso: str) -> date | None:
    return date.fromisoformat(iso) if iso else None


def _matches(entries: list[Entry]) -> dict[str, list]:
    """Existing non-sandbox payers per entry slug: by slug, or by any endpoint's key."""
    from payers.models import Payer

    by_key: dict[str, list[Payer]] = {}
    payers = list(Payer.objects.filter(is_sandbox=False))
    for payer in payers:
        keys = {e.get("key") for e in payer.endpoints} | {normalise_url(payer.fhir_base_url)}
        for key in keys - {None, normalise_url("")}:
            by_key.setdefault(key, []).append(payer)
    by_slug = {p.slug: p for p in payers}
    found: dict[str, list[Payer]] = {}
    for entry in entries:
        rows = [by_slug[entry.slug]] if entry.slug in by_slug else []
        for key in sorted(entry.keys):
            rows += [p for p in by_key.get(key, []) if p not in rows]
        found[entry.slug] = rows
    return found


def load_entries(entries: list[Entry]) -> tuple[int, int]:
    """Upsert directory entries; (created, updated).

    A payer is found by slug or by any of the entry's endpoints, so rows an older
    import made for one plan's several bases fold into one: the first (the slug's,
    else one with our client registration) is kept, the others are deleted when
    nothing refers to them, else disabled. Directory facts (names, endpoints,
    states, publisher status, source) are refreshed; what an admin or discovery
    set (status, client registration, verification, health, a connected payer's
    chosen base) is kept. Sandbox payers are never touched.
    """
    from payers.models import Payer

    created = updated = 0
    taken = set(Payer.objects.values_list("slug", flat=True))
    matches, done = _matches(entries), set()
    for entry in entries:
        rows = [p for p in matches[entry.slug] if p.pk not in done]
        done |= {p.pk for p in rows}
        # An admin's registration outweighs a slug: keep the row that has one.
        rows.sort(key=lambda p: (not p.client_id, p.slug != entry.slug, p.pk))
        payer = rows[0] if rows else Payer(slug=entry.slug, status=Payer.Status.NOT_CONNECTED)
        for extra in rows[1:]:
            if _retire(extra, entry.slug):
                taken.discard(extra.slug)
        if payer.pk is None:
            created += 1
        else:
            updated += 1
            if payer.slug != entry.slug and entry.slug not in taken:
                payer.slug = entry.slug
        taken.add(payer.slug)
        _apply(payer, entry)
        payer.save()
    return created, updated


def _apply(payer, entry: Entry) -> None:
    payer.name = entry.name
    payer.aliases = entry.aliases
    payer.brand = entry.brand
    payer.lines_of_business = entry.lines_of_business
    payer.states = entry.states
    keep_base = payer.status == payer.Status.ACTIVE and normalise_url(payer.fhir_base_url) in {
        e["key"] for e in entry.endpoints if e["kind"] == PATIENT_ACCESS
    }
    if not keep_base:
        payer.fhir_base_url = entry.fhir_base_url
    payer.endpoints = entry.endpoints
    payer.authorize_url = payer.authorize_url or entry.authorize_url
    payer.token_url = payer.token_url or entry.token_url
    payer.quirks = {**entry.quirks, **payer.quirks}
    payer.published_status = entry.published_status
    payer.go_live_date = parse_date(entry.go_live_date)
    payer.patient_access_unconfirmed = entry.patient_access_unconfirmed
    payer.source = "; ".join(entry.sources)[:500]


def _retire(payer, kept_slug: str) -> bool:
    """A row an older import made for what is now another payer's endpoint; True if deleted."""
    if not payer.client_id and not payer.consents.exists():
        payer.delete()
        return True
    payer.status = payer.Status.DISABLED
    payer.quirks = {**payer.quirks, "merged_into": kept_slug}
    payer.save(update_fields=["status", "quirks"])
    return False
