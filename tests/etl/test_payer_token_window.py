"""The early-refresh window scales with the payer token's lifetime (pure function)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from consent.models import PayerGrant
from consent.payer_tokens import early_window


@pytest.mark.parametrize(
    ("lifetime", "window"),
    [
        (timedelta(seconds=20), timedelta(seconds=2)),  # not refreshed on every call
        (timedelta(minutes=5), timedelta(seconds=30)),
        (timedelta(hours=1), timedelta(seconds=60)),  # at most a minute
        (timedelta(seconds=3), timedelta(seconds=1)),  # at least a second
    ],
)
def test_early_window(lifetime, window):
    now = timezone.now()
    grant = PayerGrant(expires_at=now + lifetime, updated_at=now, created_at=now)
    assert early_window(grant) == window


def test_tokens_without_expiry_are_never_early():
    assert early_window(PayerGrant(expires_at=None)) == timedelta(0)
