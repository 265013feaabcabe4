"""Look-ups shared by the sandbox views: payer, profile, test patients."""

from __future__ import annotations

import hmac

from payers.sandbox import datasets
from payers.sandbox.models import SandboxPayer
from payers.sandbox.profiles import QuirkProfile


def payer_or_none(slug: str) -> SandboxPayer | None:
    return SandboxPayer.objects.filter(slug=slug).first()


def profile_of(payer: SandboxPayer) -> QuirkProfile:
    return QuirkProfile.from_dict(payer.profile)


def dataset_for(payer: SandboxPayer, patient_id: str) -> tuple[QuirkProfile, datasets.Dataset]:
    profile = profile_of(payer)
    for patient in profile.patients:
        data = datasets.load(patient.dataset)
        if data.patient_id == patient_id:
            return profile, data
    raise LookupError(f"patient {patient_id} is not a test patient of {payer.slug}")


def sign_in(payer: SandboxPayer, username: str, password: str) -> str | None:
    """The patient id for a test patient's username and password, else None.

    Compared as UTF-8 bytes: `hmac.compare_digest` refuses non-ASCII str (a 500).
    """
    for patient in profile_of(payer).patients:
        if patient.username == username and hmac.compare_digest(
            patient.password.encode(), password.encode()
        ):
            return datasets.load(patient.dataset).patient_id
    return None
