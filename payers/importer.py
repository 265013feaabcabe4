"""Build the real payer directory from the public lists in `directory_sources/`.

Sources (see `directory_sources/SOURCES.md`): ONC Lantern's state Medicaid and
Medicare Advantage endpoint lists, and fhir-gateway's payer records (only
`type` payer or government; EHRs, labs, sandboxes and localhost are skipped).
Lantern's developer-portal lists are links to documentation, not FHIR bases,
and are not imported. Entries are deduplicated by normalised FHIR base URL;
a merged entry keeps every source it came from. Nothing here invents a payer:
names, URLs and states come from the lists (states also from a plan name that
spells one out, e.g. "Healthy Blue MO").
"""

from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.utils.text import slugify

from payers.states import STATE_CODES, STATE_NAMES

SOURCES_DIR = Path(__file__).resolve().parent / "directory_sources"
FIXTURE = Path(__file__).resolve().parent / "data" / "payer_directory.json"


@dataclass
class Entry:
    name: str
    fhir_base_url: str
    sources: list[str]
    aliases: list[str] = field(default_factory=list)
    brand: str = ""
    lines_of_business: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    authorize_url: str = ""
    token_url: str = ""
    quirks: dict[str, Any] = field(default_factory=dict)
    slug: str = ""

    def merge(self, other: Entry) -> None:
        """Fold a duplicate in; fhir-gateway records (read first) win on names and OAuth."""
        self.sources += [s for s in other.sources if s not in self.sources]
        for alias in [other.name, *other.aliases]:
            if alias != self.name and alias not in self.aliases:
                self.aliases.append(alias)
        self.brand = self.brand or other.brand
        self.lines_of_business = _union(self.lines_of_business, other.lines_of_business)
        self.states = sorted(set(self.states) | set(other.states))
        self.authorize_url = self.authorize_url or other.authorize_url
        self.token_url = self.token_url or other.token_url
        self.quirks = {**other.quirks, **self.quirks}


def _union(a: list[str], b: list[str]) -> list[str]:
    return a + [x for x in b if x not in a]


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def states_in(name: str) -> list[str]:
    """State codes a plan name spells out: full names, or an upper-case code word."""
    found = {code for code in re.findall(r"\b([A-Z]{2})\b", name) if code in STATE_CODES}
    lowered = name.lower()
    for state, code in STATE_NAMES.items():
        if re.search(rf"\b{re.escape(state)}\b", lowered):
            found.add(code)
    if "kansas city" in lowered:  # Kansas City plans serve Missouri, not only Kansas
        found.add("MO")
    return sorted(found)


def _fhir_gateway(directory: Path) -> list[Entry]:
    entries = []
    for path in sorted(directory.glob("*.json")):
        record = orjson.loads(path.read_bytes())
        url = record.get("fhir_base_url") or ""
        host = urlsplit(url).hostname or ""
        if record.get("type") not in ("payer", "government") or host in ("localhost", "127.0.0.1"):
            continue
        oauth = record.get("oauth") or {}
        quirks: dict[str, Any] = {
            "patient_access": bool((record.get("capabilities") or {}).get("patient_access"))
        }
        if oauth.get("scopes_supported"):
            quirks["scopes_supported"] = oauth["scopes_supported"]
        if record.get("developer_portal"):
            quirks["developer_portal"] = record["developer_portal"]
        name = record["name"]
        entries.append(
            Entry(
                name=name,
                fhir_base_url=url,
                sources=[f"fhir-gateway:{path.name}"],
                aliases=[
                    a
                    for a in [record.get("display_name", ""), *record.get("aliases", [])]
                    if a and a != name
                ],
                states=sorted(set(record.get("states") or states_in(name))),
                authorize_url=oauth.get("authorize_url", ""),
                token_url=oauth.get("token_url", ""),
                quirks=quirks,
            )
        )
    return entries


def _medicaid_states(directory: Path) -> list[Entry]:
    rows: list[tuple[str, str, str]] = []
    with (directory / "medicaid-state-endpoints.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append((row["State"], row["endpoint"], "medicaid-state-endpoints.csv"))
    listing = orjson.loads((directory / "MedicaidState_EndpointSources.json").read_bytes())
    for item in listing["Endpoints"]:
        rows.append((item["OrganizationName"], item["URL"], "MedicaidState_EndpointSources.json"))
    entries = []
    for state, url, source in rows:
        code = STATE_NAMES[state.strip().lower()]
        entries.append(
            Entry(
                name=f"{state.strip()} Medicaid",
                fhir_base_url=url.strip(),
                sources=[f"lantern:{source}"],
                aliases=[f"{code} Medicaid", f"{state.strip()} Medicaid Patient Access"],
                brand=f"State of {state.strip()}",
                lines_of_business=["medicaid"],
                states=[code],
            )
        )
    return entries


# Lantern's single-endpoint Medicare lists leave the organisation blank.
_BRANDS = {
    "Medicare_AetnaEndpointSources.json": "Aetna",
    "Medicare_CenteneEndpointSources.json": "Centene",
    "Medicare_CignaEndpointSources.json": "Cigna",
    "Medicare_UnitedHealthGroupEndpointSources.json": "UnitedHealth Group",
    "Medicare_ElevanceHealthAnthemEndpointSources.json": "Elevance Health",
}


def _medicare(directory: Path) -> list[Entry]:
    entries = []
    for filename, brand in _BRANDS.items():
        listing = orjson.loads((directory / filename).read_bytes())
        for item in listing["Endpoints"]:
            name = " ".join(item["OrganizationName"].split()) or brand
            # The list is Medicare Advantage's, but a plan named "... Medicaid" is one.
            lines = ["medicaid"] if "medicaid" in name.lower() else ["medicare_advantage"]
            entries.append(
                Entry(
                    name=name,
                    fhir_base_url=item["URL"].strip(),
                    sources=[f"lantern:{filename}"],
                    brand=brand,
                    lines_of_business=lines,
                    states=states_in(name),
                )
            )
    return entries


def build_directory(sources: Path = SOURCES_DIR) -> list[Entry]:
    """Every real endpoint in the lists, deduplicated, with unique slugs."""
    by_url: dict[str, Entry] = {}
    for entry in (
        _fhir_gateway(sources / "fhir-gateway")
        + _medicaid_states(sources / "lantern")
        + _medicare(sources / "lantern")
    ):
        key = normalise_url(entry.fhir_base_url)
        if key in by_url:
            by_url[key].merge(entry)
        else:
            by_url[key] = entry
    entries = sorted(by_url.values(), key=lambda e: (e.name.lower(), e.fhir_base_url))
    _assign_slugs(entries)
    return entries


def _assign_slugs(entries: list[Entry]) -> None:
    """Slug from the name; a second endpoint of the same name gets its path's last word."""
    taken: set[str] = set()
    for entry in entries:
        base = slugify(entry.name)[:90] or "payer"
        slug = base
        if slug in taken:
            tail = slugify(urlsplit(entry.fhir_base_url).path.rstrip("/").rsplit("/", 1)[-1])
            slug = f"{base}-{tail}" if tail else base
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


def load_entries(entries: list[Entry]) -> tuple[int, int]:
    """Upsert directory entries by slug; (created, updated).

    Directory facts (names, URLs, states, source) are refreshed; what an admin
    or discovery set (status, client registration, health) is kept.
    """
    from payers.models import Payer

    created = updated = 0
    existing = {p.slug: p for p in Payer.objects.filter(slug__in=[e.slug for e in entries])}
    for entry in entries:
        payer = existing.get(entry.slug)
        if payer is not None and payer.is_sandbox:
            continue  # never overwrite a sandbox payer with a directory entry
        if payer is None:
            payer = Payer(slug=entry.slug, status=Payer.Status.NOT_CONNECTED)
            created += 1
        else:
            updated += 1
        payer.name = entry.name
        payer.aliases = entry.aliases
        payer.brand = entry.brand
        payer.lines_of_business = entry.lines_of_business
        payer.states = entry.states
        payer.fhir_base_url = entry.fhir_base_url
        payer.authorize_url = payer.authorize_url or entry.authorize_url
        payer.token_url = payer.token_url or entry.token_url
        payer.quirks = {**entry.quirks, **payer.quirks}
        payer.source = "; ".join(entry.sources)[:500]
        payer.save()
    return created, updated
