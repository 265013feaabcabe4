"""Fixtures for the cache tests: consents to load into, and the real payer data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from consent.models import App, Consent
from fhircache.normalize.provenance import SourceInfo
from payers.models import Payer

FHIR_DATA = Path(__file__).resolve().parents[2] / "payers" / "sandbox" / "data" / "fhir"
DATASETS = ("bfd-v2", "bluebutton-v2", "cpcds")
# not patient data: a server's CapabilityStatement, an OAuth userinfo response
NOT_RESOURCES = {"metadata.json", "fhir_meta_v2.json", "userinfo_v2.json"}


def data_files(dataset: str) -> list[Path]:
    return sorted(p for p in (FHIR_DATA / dataset).glob("*.json") if p.name not in NOT_RESOURCES)


def corpus_files(dataset: str) -> list[Path]:
    """Every JSON file of a dataset, the non-resources included."""
    return sorted((FHIR_DATA / dataset).glob("*.json"))


def resources_in(path: Path) -> list[dict]:
    value = orjson.loads(path.read_bytes())
    if value.get("resourceType") == "Bundle":
        return [e["resource"] for e in value.get("entry", []) if "resource" in e]
    return [value]


def source_for(payer: str = "test-payer", base: str = "https://payer.example/fhir") -> SourceInfo:
    return SourceInfo(payer=payer, base_url=base, fetched_at=datetime.now(UTC))


@pytest.fixture
def make_consent(db):
    def make() -> Consent:
        suffix = uuid.uuid4().hex[:8]
        payer = Payer.objects.create(
            slug=f"payer-{suffix}",
            name=f"Payer {suffix}",
            fhir_base_url="https://payer.example/fhir",
        )
        app = App.objects.create(name=f"App {suffix}", client_id=f"client-{suffix}")
        return Consent.objects.create(app=app, payer=payer, patient_id="p1")

    return make


@pytest.fixture
def consent(make_consent) -> Consent:
    return make_consent()
