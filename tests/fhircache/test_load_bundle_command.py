"""`manage.py load_bundle`: bad arguments and bad files answer with one clear
line and exit status 1, never a traceback, and load nothing."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from fhircache import repository
from tests.fhircache.conftest import FHIR_DATA

ROOT = Path(__file__).resolve().parents[2]
SMILE = FHIR_DATA / "cpcds/smile-patient2.json"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{broken", "not JSON"),
        (b"", "not JSON"),
        (b"\xff\xfe{}", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"foo": 1}', "not a FHIR Bundle or resource"),
        (b'{"resourceType": 7}', "not a FHIR Bundle or resource"),
        (b'{"resourceType": "Bundle", "entry": 5}', "Bundle.entry is not a list"),
    ],
)
def test_bad_files_are_refused_before_anything_is_loaded(consent, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    with pytest.raises(CommandError, match=message) as refused:
        call_command("load_bundle", "--consent", str(consent.pk), str(SMILE), str(bad))
    assert str(bad) in str(refused.value)
    assert repository.counts(consent) == {} and repository.quarantine_count(consent) == 0


@pytest.mark.parametrize("consent_id", [str(uuid.uuid4()), "not-a-uuid", ""])
def test_unknown_consents_are_refused(db, consent_id):
    with pytest.raises(CommandError, match="no consent"):
        call_command("load_bundle", "--consent", consent_id, str(SMILE))


def test_missing_files_and_directories_are_refused(consent, tmp_path):
    for path in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(CommandError, match="not a file"):
            call_command("load_bundle", "--consent", str(consent.pk), str(path))


@pytest.mark.parametrize(
    ("consent_id", "content", "message"),
    [
        (None, b"not json", "not JSON"),
        ("00000000-0000-0000-0000-000000000000", None, "no consent"),
    ],
)
def test_the_command_line_exits_1_with_one_line_and_no_traceback(
    process_env, tmp_path, consent_id, content, message
):
    path = SMILE
    if content is not None:
        path = tmp_path / "bad.json"
        path.write_bytes(content)
    consent_id = consent_id or str(uuid.uuid4())
    run = subprocess.run(
        [sys.executable, "manage.py", "load_bundle", "--consent", consent_id, str(path)],
        cwd=ROOT,
        env=process_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
