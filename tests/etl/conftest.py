"""Fixtures for the ETL tests (the cache tests' consents are reused)."""

from __future__ import annotations

from tests.fhircache.conftest import consent, make_consent  # noqa: F401 - fixtures
