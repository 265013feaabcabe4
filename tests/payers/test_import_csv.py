"""`import_payers --csv`: an operator's own list merged into the directory, dry run first."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from payers.models import Payer

pytestmark = pytest.mark.django_db

SECRET = "op-secret-7f3a9c"
CSV = f"""name,fhir_base_url,client_id,client_secret,status,states,lines_of_business
Acme Health Plan,https://fhir.acme.example/r4/,acme-client,{SECRET},active,"TX, new mexico",\
"Commercial; medicaid"
,https://API.kansasfhir.com/r4/,ks-client,{SECRET}-ks,active,,
"""


@pytest.fixture
def directory():
    call_command("import_payers", stdout=StringIO())


def _run(path: Path, *extra: str) -> str:
    out = StringIO()
    call_command("import_payers", "--csv", str(path), *extra, stdout=out)
    return out.getvalue()


def test_csv_round_trip_with_a_dry_run_first(directory, tmp_path):
    path = tmp_path / "payers.csv"
    path.write_text(CSV)
    before = Payer.objects.count()

    dry = _run(path, "--dry-run")

    assert "line 2: create acme-health-plan (Acme Health Plan)" in dry
    assert "client_secret set" in dry
    assert "line 3: update kansas-medicaid: client_id '' -> 'ks-client'" in dry
    assert "status 'not_connected' -> 'active'" in dry
    assert "(dry run: nothing saved)" in dry
    assert SECRET not in dry
    assert Payer.objects.count() == before
    assert Payer.objects.get(slug="kansas-medicaid").client_id == ""

    applied = _run(path)

    assert SECRET not in applied and "1 created, 1 updated, 0 unchanged" in applied
    acme = Payer.objects.get(slug="acme-health-plan")
    assert (acme.client_id, acme.client_secret, acme.status) == ("acme-client", SECRET, "active")
    assert acme.states == ["NM", "TX"] and acme.lines_of_business == ["commercial", "medicaid"]
    assert acme.endpoints[0]["sources"] == ["operator:csv"]
    kansas = Payer.objects.get(slug="kansas-medicaid")
    assert kansas.client_secret == f"{SECRET}-ks" and kansas.name == "Kansas Medicaid"
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM payers_payer WHERE id = %s", [acme.pk])
        (stored,) = cursor.fetchone()
    assert SECRET not in stored  # encrypted at rest

    again = _run(path, "--dry-run")
    assert "0 to create, 0 to update, 2 unchanged" in again
    assert _run(path).endswith("0 created, 0 updated, 2 unchanged\n")


def test_bad_rows_are_listed_and_nothing_is_written(directory, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(
        "name,fhir_base_url,client_secret,status,states\n"
        f"Good Plan,https://good.example/fhir,{SECRET},active,TX\n"
        "No Base,,,,\n"
        "Odd,https://odd.example/fhir,,sleeping,ZZ\n"
    )

    with pytest.raises(CommandError) as failed:
        _run(path)

    message = str(failed.value)
    assert "line 3: fhir_base_url must be an http(s) URL" in message
    assert "line 4: unknown status 'sleeping'" in message
    assert SECRET not in message
    assert not Payer.objects.filter(name="Good Plan").exists()
