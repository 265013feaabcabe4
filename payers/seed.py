"""Demo seeding of the payer network, called once by `manage.py seed_demo`."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings

from payers.sandbox.seed import sandbox_info, seed_sandbox_payers


def seed_payer_network(write: Callable[[str], object]) -> None:
    """Sandbox payers (registered for this gateway); prints what it made."""
    payers = seed_sandbox_payers(settings.SANDBOX_BASE_URL, settings.PUBLIC_BASE_URL)
    write(
        f"Sandbox payers: {len(payers)} on {settings.SANDBOX_BASE_URL} (password for all test "
        "patients: see `manage.py sandbox_info`)"
    )
    for payer in sandbox_info():
        users = ", ".join(p["username"] for p in payer["patients"])
        write(f"  {payer['slug']} [{payer['profile']}]: {users}")
