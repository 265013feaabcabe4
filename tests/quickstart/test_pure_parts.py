"""The quickstart's pure parts on real EOBs of the sandbox corpus: rows, money, chart, webhooks."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from examples.quickstart.chart import MAX_MONTHS, Month, bar_chart_svg, monthly_totals
from examples.quickstart.claims import ClaimRow, claim_row, format_money, money, newest_first
from examples.quickstart.records import coverage_view, patient_view
from examples.quickstart.webhooks import EventLog

CORPUS = Path(__file__).resolve().parents[2] / "payers/sandbox/data/fhir"


def load(relative: str) -> dict:
    return json.loads((CORPUS / relative).read_text())


def entries(relative: str, resource_type: str) -> list[dict]:
    bundle = load(relative)
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("100.00"), "$100.00"),
        (Decimal("0"), "$0.00"),
        (Decimal("-3"), "-$3.00"),
        (Decimal("84999.37"), "$84,999.37"),
        (None, "—"),
    ],
)
def test_format_money(amount, text):
    assert format_money(amount) == text


def test_money_keeps_the_digits_the_payer_wrote():
    assert money(7191.52) == Decimal("7191.52")
    assert money(0.1) == Decimal("0.1")  # not 0.1000000000000000055...
    assert money(550) == Decimal(550)
    assert money(None) is None


def test_bfd_inpatient_row():
    row = claim_row(load("bfd-v2/eobReadInpatient.json"))
    assert row == ClaimRow(
        id="inpatient-333333222222",
        date=date(2016, 1, 15),
        type="Institutional",
        provider="Fake ORG Name",  # the contained Organization the provider points to
        billed=Decimal("84999.37"),  # total with category `submitted`
        paid=Decimal("7699.48"),  # payment.amount
        patient_paid=None,
    )


def test_bfd_part_d_row_uses_the_drug_cost_and_the_pharmacy_npi():
    row = claim_row(load("bfd-v2/eobReadPde.json"))
    assert row.type == "Pharmacy" and row.provider == "NPI 1023011079"
    assert (row.billed, row.paid, row.patient_paid) == (
        Decimal("550.0"),
        Decimal("126.99"),
        Decimal("235.85"),
    )


def test_blue_button_part_d_eob_without_dates_or_totals_reads_from_its_items():
    """Structurally invalid (no insurance.focal, details without sequence): still a row."""
    [eob] = [
        e
        for e in entries("bluebutton-v2/eob_search_v2.json", "ExplanationOfBenefit")
        if e["id"] == "pde--5764339373"
    ]
    row = claim_row(eob)
    assert row.date == date(2016, 10, 1)  # item.servicedDate
    assert (row.billed, row.paid, row.patient_paid) == (
        Decimal("400.0"),  # item adjudication drugcost
        Decimal("300.0"),  # benefit
        Decimal("10.0"),  # paidbypatient
    )


def test_carin_0_1_0_codes_and_an_included_provider():
    eob = entries("cpcds/smile-patient1.json", "ExplanationOfBenefit")[0]
    included = {eob["provider"]["reference"]: {"resourceType": "Organization", "name": "Acme"}}
    row = claim_row(eob, included)
    assert row.provider == "Acme"
    assert (row.billed, row.paid, row.patient_paid) == (
        Decimal("9000.0"),  # submittedamount
        Decimal("2400.0"),
        Decimal("6600.0"),  # patientpayamount
    )
    assert claim_row(eob).provider == eob["provider"]["reference"]  # not included: the reference


def test_every_eob_of_the_corpus_gives_a_row():
    for path in CORPUS.glob("*/*.json"):
        data = json.loads(path.read_text())
        found = (
            [data]
            if data.get("resourceType") == "ExplanationOfBenefit"
            else [e.get("resource", {}) for e in data.get("entry", [])]
        )
        for eob in (r for r in found if r.get("resourceType") == "ExplanationOfBenefit"):
            row = claim_row(eob)
            assert row.id == eob["id"] and row.type, path


def test_newest_first_puts_undated_claims_last():
    rows = [
        ClaimRow("a", None, "t", "p", None, None, None),
        ClaimRow("b", date(2020, 1, 1), "t", "p", None, None, None),
        ClaimRow("c", date(2021, 1, 1), "t", "p", None, None, None),
    ]
    assert [r.id for r in newest_first(rows)] == ["c", "b", "a"]


def _row(day: date | None, billed: str | None, paid: str | None) -> ClaimRow:
    to_decimal = lambda v: Decimal(v) if v is not None else None  # noqa: E731
    return ClaimRow("x", day, "t", "p", to_decimal(billed), to_decimal(paid), None)


def test_monthly_totals_sum_per_month_and_skip_undated():
    rows = [
        _row(date(2016, 1, 15), "100.00", "80.00"),
        _row(date(2016, 1, 31), "50.50", None),
        _row(date(2015, 12, 1), None, "10"),
        _row(None, "999", "999"),
    ]
    assert monthly_totals(rows) == [
        Month("2015-12", Decimal(0), Decimal("10"), 1),
        Month("2016-01", Decimal("150.50"), Decimal("80.00"), 2),
    ]


def test_chart_is_svg_with_two_bars_per_month_scaled_to_the_largest():
    months = [
        Month("2016-01", Decimal(200), Decimal(100), 1),
        Month("2016-02", Decimal(50), Decimal(0), 1),
    ]
    svg = ET.fromstring(bar_chart_svg(months))  # noqa: S314 - our own SVG
    ns = {"s": "http://www.w3.org/2000/svg"}
    bars = svg.findall("s:rect", ns)
    assert [b.get("class") for b in bars] == ["bar billed", "bar paid"] * 2
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == max(heights) and heights[1] == pytest.approx(heights[0] / 2, abs=0.1)
    assert heights[2] == pytest.approx(heights[0] / 4, abs=0.1) and heights[3] == 0
    assert "2016-01 billed $200.00" in [b.find("s:title", ns).text for b in bars]


def test_chart_keeps_the_latest_months_and_handles_no_data():
    months = [
        Month(f"{2000 + i // 12}-{i % 12 + 1:02}", Decimal(1), Decimal(1), 1) for i in range(30)
    ]
    svg = ET.fromstring(bar_chart_svg(months))  # noqa: S314 - our own SVG
    assert len(svg.findall("{http://www.w3.org/2000/svg}rect")) == 2 * MAX_MONTHS
    assert "No dated claims" in bar_chart_svg([])


def test_patient_and_coverage_views_of_blue_button_data():
    patient = patient_view(load("bluebutton-v2/patient_read_v2.json"))
    assert (patient.id, patient.name, patient.birth_date) == (
        "-20140000008325",
        "Jane X Doe",
        "2014-06-01",
    )
    coverage = coverage_view(load("bluebutton-v2/coverage_read_v2.json"))
    assert coverage.member_id == "2SW4N00AA00" and coverage.status == "active"


SECRET = "whsec_" + base64.b64encode(b"quickstart-test-secret").decode()


def signed(body: bytes, secret: str = SECRET, msg_id: str = "msg_1") -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "Webhook-Id": msg_id,
        "Webhook-Timestamp": str(int(now.timestamp())),
        "Webhook-Signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }


def test_webhook_signature_verified_and_tampering_rejected():
    log = EventLog(SECRET)
    body = json.dumps({"type": "sync.completed", "data": {"consent_id": "c1"}}).encode()
    good = log.receive(body, signed(body))
    assert good.verified and good.type == "sync.completed" and good.consent_id == "c1"
    assert log.has("c1", "sync.completed")

    forged = log.receive(body.replace(b"c1", b"c2"), signed(body, msg_id="msg_2"))
    assert not forged.verified and forged.verdict.startswith("rejected")
    other_secret = "whsec_" + base64.b64encode(b"someone else").decode()
    wrong_key = log.receive(body, signed(body, other_secret, "msg_3"))
    assert not wrong_key.verified
    garbage = log.receive(b"\xff", {"webhook-id": "x", "webhook-signature": "nonsense"})
    assert not garbage.verified
    assert not log.has("c2", "sync.completed")  # a forged event is shown, never trusted


def test_webhook_redelivery_is_recorded_once():
    log = EventLog(SECRET)
    body = json.dumps({"type": "sync.completed", "data": {"consent_id": "c1"}}).encode()
    log.receive(body, signed(body))
    log.receive(body, signed(body))
    assert len(log.for_consent("c1")) == 1
