"""Fixtures for the ETL tests (the cache tests' consents are reused)."""

from __future__ import annotations

from tests.consent.conftest import (  # noqa: F401 - fixtures
    _public_base_url,
    db_payer,
    issue_code,
    make_client,
)
from tests.fhircache.conftest import consent, make_consent  # noqa: F401 - fixtures
from tests.payers.conftest import misbehaving, other_server  # noqa: F401 - fixtures
