"""Demo seeding of the payer network, called once by `manage.py seed_demo`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from payers.importer import load_entries, patient_access_endpoints, read_fixture
from payers.models import Payer
from payers.sandbox.seed import sandbox_info, seed_sandbox_payers


def seed_payer_network(write: Callable[[str], object]) -> None:
    """The real directory (shipped fixture, no network) and the sandbox payers; prints both."""
    entries = read_fixture()
    created, updated = load_entries(entries)
    real = Payer.objects.filter(is_sandbox=False).count()
    endpoints = sum(len(patient_access_endpoints(e.endpoints)) for e in entries)
    write(
        f"Payer directory: {real} real payers, {endpoints} Patient Access endpoints "
        f"({created} new, {updated} refreshed)"
    )
    payers = seed_sandbox_payers(settings.SANDBOX_BASE_URL, settings.PUBLIC_BASE_URL)
    write(
        f"Sandbox payers: {len(payers)} on {settings.SANDBOX_BASE_URL}; "
        "test patients (`manage.py sandbox_info` for passwords and ids):"
    )
    for payer in sandbox_info():
        users = ", ".join(p["username"] for p in payer["patients"])
        write(f"  {payer['slug']} [{payer['profile']}]: {users}")
    write(f"Payer picker: {settings.PUBLIC_BASE_URL}/payers/")
