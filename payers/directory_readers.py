"""Readers of the public payer lists in `directory_sources/`: one `Record` per endpoint fact.

Each reader turns one source's layout into records (name, cleaned FHIR base, kind,
where it came from, how recent it is); `payers.importer` groups records into
plans. Readers skip what their SOURCE.md says is not a health plan's Patient Access
API (EHRs, sandboxes, tests, retired tenants, look-alike names) and never invent a
URL: a base is cleaned of resource paths and query strings the lists carry, and
the two vendor conventions CMS's SOURCE.md documents fill a bare host.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from payers.states import STATE_CODES, STATE_NAMES

# Endpoint kinds: only PATIENT_ACCESS endpoints can be a payer's FHIR base.
PATIENT_ACCESS = "patient_access"
FORMULARY = "formulary"
PROVIDER_DIRECTORY = "provider_directory"
SANDBOX = "sandbox"

# Path tails that are a resource, a document or a test page on the base, not the base.
# Resource names are case-sensitive ("/base/patient" is a real base, "/Patient" is not).
_RESOURCE_TAILS = {"explanationofbenefit", "explanationofbenefits", "patient", "coverage"}
_DOCUMENT_TAILS = {"metadata", "openapi.json", "resource"}
_URL = re.compile(r"https?://[^\s\xa0,;]+")


@dataclass(kw_only=True)
class PlanFacts:
    """What the lists say about a plan besides its endpoints."""

    aliases: list[str] = field(default_factory=list)
    brand: str = ""
    lines_of_business: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    authorize_url: str = ""
    token_url: str = ""
    quirks: dict[str, Any] = field(default_factory=dict)
    published_status: str = ""
    go_live_date: str = ""  # ISO


@dataclass(kw_only=True)
class Record(PlanFacts):
    """One endpoint (or, for a CMS state without one, one status) as a source states it."""

    name: str
    url: str
    source: str
    as_of: str = ""  # ISO date the source gives for this fact; "" when undated
    kind: str = PATIENT_ACCESS
    states_patient_access: bool = True  # does the source say it is a Patient Access API?
    # Position among one source row's bases (CMS: claims, then PDex, then CapabilityStatement).
    position: int = 0


def clean_base(url: str) -> str:
    """The FHIR base of a URL a list gives: no query, no resource or metadata tail."""
    url = url.strip().strip("\xa0")
    parts = urlsplit(url)
    path, stripped = parts.path, False
    while True:
        head, _, tail = path.rstrip("/").rpartition("/")
        resource = tail[:1].isupper() and tail.lower() in _RESOURCE_TAILS
        if not (resource or tail.lower() in _DOCUMENT_TAILS):
            break
        path, stripped = head, True
    if not stripped and not parts.query and not parts.fragment:
        return url
    return f"{parts.scheme}://{parts.netloc}{path}"


def normalise_url(url: str) -> str:
    """Dedup key of a FHIR base: case-folded origin, no slash, `/carin-bb`/`/pdex` folded."""
    parts = urlsplit(clean_base(url))
    path = parts.path.rstrip("/")
    for variant in ("/carin-bb", "/pdex"):
        if path.lower().endswith(variant):
            path = path[: -len(variant)]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path}"


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


def _us_date(text: str) -> str:
    """`M/D/YYYY` as ISO, "" for TBD, N/A, blanks and prose."""
    try:
        return datetime.strptime(text.strip(), "%m/%d/%Y").date().isoformat()
    except ValueError:
        return ""


# ---------------------------------------------------------------- fhir-gateway


def _strip_suffix(name: str) -> str:
    """'Anthem Blue Cross Blue Shield (Patient Access)' -> 'Anthem Blue Cross Blue Shield'."""
    return re.sub(r"\s*\((patient access|formulary|provider directory)\)$", "", name, flags=re.I)


def fhir_gateway(directory: Path, label: str = "fhir-gateway", as_of: str = "") -> list[Record]:
    """fhir-gateway records of `type` payer/government (EHRs, labs, localhost skipped)."""
    records = []
    for path in sorted(directory.glob("*.json")):
        item = orjson.loads(path.read_bytes())
        url = (item.get("fhir_base_url") or "").strip()
        host = urlsplit(url).hostname or ""
        if item.get("type") not in ("payer", "government") or host in ("localhost", "127.0.0.1"):
            continue
        caps = item.get("capabilities") or {}
        oauth = item.get("oauth") or {}
        quirks: dict[str, Any] = {"patient_access": bool(caps.get("patient_access"))}
        if oauth.get("scopes_supported"):
            quirks["scopes_supported"] = oauth["scopes_supported"]
        if item.get("developer_portal"):
            quirks["developer_portal"] = item["developer_portal"]
        name = _strip_suffix(item["name"])
        common = {
            "name": name,
            "source": f"{label}:{path.name}",
            "as_of": as_of,
            "aliases": [a for a in [item.get("display_name"), *item.get("aliases", [])] if a],
            "states": sorted(set(item.get("states") or states_in(name)) & STATE_CODES),
        }
        if url:
            kind = PATIENT_ACCESS
            if url == item.get("sandbox_url"):
                kind = SANDBOX  # the record's "base" is its developer sandbox
            elif not caps.get("patient_access"):
                kind = FORMULARY if caps.get("formulary") else PROVIDER_DIRECTORY
            records.append(
                Record(
                    url=url,
                    kind=kind,
                    states_patient_access=bool(caps.get("patient_access")),
                    authorize_url=oauth.get("authorize_url") or "",
                    token_url=oauth.get("token_url") or "",
                    quirks=quirks,
                    **common,
                )
            )
        elif label.endswith("drafts"):
            # No base: names, aliases and states only, kept if the plan is otherwise known.
            records.append(Record(url="", quirks=quirks, **common))
        endpoints = item.get("endpoints") or {}
        for key, kind in (
            ("patient_access_base", PATIENT_ACCESS),
            ("provider_directory_base", PROVIDER_DIRECTORY),
        ):
            other = (endpoints.get(key) or "").strip()
            if other and other not in (url, item.get("sandbox_url")):
                records.append(Record(url=other, kind=kind, **common))
    return records


# -------------------------------------------------------------------- lantern


def lantern_medicaid(directory: Path) -> list[Record]:
    rows: list[tuple[str, str, str]] = []
    with (directory / "medicaid-state-endpoints.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append((row["State"], row["endpoint"], "medicaid-state-endpoints.csv"))
    listing = orjson.loads((directory / "MedicaidState_EndpointSources.json").read_bytes())
    for item in listing["Endpoints"]:
        rows.append((item["OrganizationName"], item["URL"], "MedicaidState_EndpointSources.json"))
    return [
        _state_medicaid(state.strip(), clean_base(url), f"lantern:{source}")
        for state, url, source in rows
    ]


def _state_medicaid(state: str, url: str, source: str, **extra: Any) -> Record:
    code = STATE_NAMES[state.lower()]
    return Record(
        name=f"{state} Medicaid",
        url=url,
        source=source,
        aliases=[f"{code} Medicaid", f"{state} Medicaid Patient Access"],
        brand=f"State of {state}",
        lines_of_business=extra.pop("lines_of_business", ["medicaid"]),
        states=[code],
        **extra,
    )


# Lantern's single-endpoint Medicare lists leave the organisation blank: (brand, plan name).
_MEDICARE_LISTS = {
    "Medicare_AetnaEndpointSources.json": ("Aetna", "Aetna"),
    "Medicare_CenteneEndpointSources.json": ("Centene", "Centene"),
    "Medicare_CignaEndpointSources.json": ("Cigna", "Cigna"),
    "Medicare_UnitedHealthGroupEndpointSources.json": ("UnitedHealth Group", "UnitedHealthcare"),
    "Medicare_ElevanceHealthAnthemEndpointSources.json": ("Elevance Health", ""),
}


def lantern_medicare(directory: Path) -> list[Record]:
    records = []
    for filename, (brand, plan) in _MEDICARE_LISTS.items():
        listing = orjson.loads((directory / filename).read_bytes())
        for item in listing["Endpoints"]:
            name = " ".join(item["OrganizationName"].split()) or plan
            # The list is Medicare Advantage's, but a plan named "... Medicaid" is one.
            lines = ["medicaid"] if "medicaid" in name.lower() else ["medicare_advantage"]
            records.append(
                Record(
                    name=name,
                    url=item["URL"].strip(),
                    source=f"lantern:{filename}",
                    brand=brand,
                    lines_of_business=lines,
                    states=states_in(name),
                )
            )
    return records


# ------------------------------------------------------------- lantern-chpl

_ONE_UP = "1UpEndpointSources.json"
_CERNER = "Cerner_Corporation_EndpointSources.json"
_ALTERA = "Altera_Digital_Health_Inc_EndpointSources.json"

# The health-plan entries lantern-chpl/SOURCE.md lists, by (file, OrganizationName):
# (plan name, states, lines of business, does the entry say it is Patient Access).
# Everything else in those files (EHR tenants, tests, retired and sandbox entries,
# look-alike names) is not imported.
CHPL_PLANS: dict[tuple[str, str], tuple[str, list[str], list[str], bool]] = {
    (_ONE_UP, "CountyCare"): ("CountyCare Health Plan", ["IL"], ["medicaid"], False),
    (_ONE_UP, "Centers Plan Healthy Living (CPHL)"): (
        "Centers Plan for Healthy Living",
        ["NY"],
        [],
        False,
    ),
    (_ONE_UP, "Harvard Pilgrim"): ("Harvard Pilgrim", [], [], False),
    (_ONE_UP, "Health First"): ("Health First", [], [], False),
    (_ONE_UP, "HealthFirst Fhir Platform"): ("HealthFirst FHIR Platform", [], [], False),
    (_ONE_UP, "Priority Health"): ("Priority Health", [], [], False),
    (_ONE_UP, "Tufts"): ("Tufts", [], [], False),
    (_ONE_UP, "VNSNY"): ("VNSNY", ["NY"], [], False),
    (_CERNER, "Blue Cross Blue Shield of Louisiana"): (
        "Blue Cross and Blue Shield of Louisiana",
        ["LA"],
        [],
        False,
    ),
    (_CERNER, "Blue Cross Blue Shield of Massachusetts"): (
        "Blue Cross Blue Shield of Massachusetts",
        ["MA"],
        [],
        False,
    ),
    (_CERNER, "Blue Cross and Blue Shield of Vermont"): (
        "Blue Cross and Blue Shield of Vermont",
        ["VT"],
        [],
        False,
    ),
    (_CERNER, "Centene Corporation"): ("Centene", [], [], False),
    (_CERNER, "Community First Health Plans"): ("Community First Health Plans", [], [], False),
    (_CERNER, "Geisinger Health Plan"): ("Geisinger Health Plan", [], [], False),
    # "LA" here is Los Angeles (L.A. Care), not Louisiana.
    (_CERNER, "LA Care Health Plan"): ("L.A. Care Health Plan", ["CA"], [], False),
    (_ALTERA, "Alignment healthcare-PROD Patient Access (Apps)"): (
        "Alignment Health Plan",
        [],
        ["medicare_advantage"],
        True,
    ),
}
# Hosts whose plan tenants are R4 endpoints of a vendor's consumer platform.
_CHPL_HOSTS = {_CERNER: "fhir-myrecord.cerner.com", _ALTERA: "ali-fhir.allscriptscloud.com"}


def lantern_chpl(directory: Path) -> list[Record]:
    records = []
    for filename in (_ONE_UP, _CERNER, _ALTERA):
        listing = orjson.loads((directory / filename).read_bytes())
        for item in listing["Endpoints"]:
            plan = CHPL_PLANS.get((filename, item["OrganizationName"]))
            url = item["URL"].strip()
            if plan is None or "/dstu2/" in url:  # R4 only; the DSTU2 twins are not Patient Access
                continue
            name, states, lines, says_patient_access = plan
            host = urlsplit(url).hostname or ""
            if filename in _CHPL_HOSTS and host != _CHPL_HOSTS[filename]:
                continue
            records.append(
                Record(
                    name=name,
                    url=url,
                    source=f"lantern-chpl:{filename}",
                    states_patient_access=says_patient_access,
                    aliases=[item["OrganizationName"]] if item["OrganizationName"] != name else [],
                    lines_of_business=lines,
                    states=states or states_in(name),
                    quirks={"hosted_by": host},
                )
            )
    return records


# -------------------------------------------------------------------- cms-sma

CMS_STATUS = {
    "active": "active",
    "in development": "in_development",
    "not yet started": "not_yet_started",
    "offline": "offline",
}


def _urls(cell: str) -> list[str]:
    return [m.rstrip(".") for m in _URL.findall(cell or "")]


def _kind_of(url: str) -> str:
    path = urlsplit(url).path.lower()
    if "formulary" in path:
        return FORMULARY
    if "provider-directory" in path or "providerdirectory" in path:
        return PROVIDER_DIRECTORY
    return PATIENT_ACCESS


def _cms_bases(row: dict[str, str]) -> list[str]:
    """A state's bases, claims (CARIN BB) first, then PDex, then the CapabilityStatement's.

    A bare host is no base: it is replaced by the CapabilityStatement bases on the same
    host, else by the vendor convention SOURCE.md documents (1upHealth `/r4`, Abacus
    `fite` `/carin-bb`); a bare host with neither (Abacus `slap`) is left out.
    """
    capability = [clean_base(u) for u in _urls(row["capability"])]
    bases: list[str] = []
    for url in _urls(row["claims"]) + _urls(row["pdex"]) + capability:
        parts = urlsplit(url)
        if parts.path.strip("/"):
            candidates = [clean_base(url)]
        else:
            same_host = [c for c in capability if urlsplit(c).hostname == parts.hostname]
            if same_host:
                candidates = same_host
            elif parts.hostname and parts.hostname.endswith("fhir.com"):
                candidates = [f"{parts.scheme}://{parts.netloc}/r4"]
            elif parts.hostname and parts.hostname.startswith("fite."):
                candidates = [f"{parts.scheme}://{parts.netloc}/carin-bb"]
            else:
                candidates = []
        bases += [c for c in candidates if c not in bases]
    return bases


_CMS_STATE_NAMES = {"virgin islands": "U.S. Virgin Islands"}
_CMS_COLUMNS = {
    0: "state",
    1: "as_of",
    5: "claims",
    6: "pdex",
    8: "chip",
    9: "status",
    10: "go_live",
    11: "capability",
}


def cms_sma(directory: Path) -> list[Record]:
    """CMS's State Medicaid Agency directory: per state, bases, status and go-live date."""
    with (directory / "SMAEndpointDirectory.csv").open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))[2:]  # a section row, then the column names
    records = []
    for raw in rows:
        row = {key: raw[index] for index, key in _CMS_COLUMNS.items()}
        state = re.sub(r"\s*\([A-Z]{2}\)$", "", row["state"].strip())
        state = _CMS_STATE_NAMES.get(state.lower(), state)
        if state.lower() not in STATE_NAMES:
            continue
        chip = row["chip"].lower()
        lines = ["medicaid"]
        if "same" in chip or "one url" in chip or any(u in row["claims"] for u in _urls(chip)):
            lines.append("chip")
        common = {
            "source": f"cms-sma:SMAEndpointDirectory.csv ({state})",
            "as_of": _us_date(row["as_of"]),
            "published_status": CMS_STATUS.get(" ".join(row["status"].lower().split()), ""),
            "go_live_date": _us_date(row["go_live"]),
            "lines_of_business": lines,
        }
        bases = _cms_bases(row)
        if not bases:
            records.append(_state_medicaid(state, "", **common))
        for position, url in enumerate(bases):
            records.append(
                _state_medicaid(state, url, kind=_kind_of(url), position=position, **common)
            )
    return records
